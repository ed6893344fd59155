// Package synth generates plausible SQAL samples with known labels, for tests and the
// ML benchmark: a latent quality drives the ToF shape, the spectral indices and the
// device's fusion score, with sensor noise and a per-device bias, and the label is the
// fusion grade (the default training label in production).
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sqalfn/sqal/shared/features"
)

// Sample is one generated sample with its labels.
type Sample struct {
	SampleID   string
	DeviceID   string
	Features   features.Sample
	FinalScore float64
	FinalGrade string
}

// Thresholds of the generated fusion grade (lower bounds of A+, A, B, C).
var Thresholds = []float64{0.85, 0.75, 0.60, 0.40}

// Devices are the generated stations.
var Devices = []string{"ESP32_DEMO_LL_01", "ESP32_DEMO_LS_01", "ESP32_DEMO_MT_01"}

// Generator produces samples deterministically from a seed.
type Generator struct {
	rng        *rand.Rand
	n          int
	Histograms bool // also generate the 8x8x128 histograms (slower, 64 KB per sample)
}

// New returns a generator seeded with seed.
func New(seed uint64) *Generator { return &Generator{rng: rand.New(rand.NewPCG(seed, 7))} }

// Next generates one sample.
func (g *Generator) Next() Sample {
	r := g.rng
	g.n++
	dev := r.IntN(len(Devices))
	q := 0.15 + 0.85*math.Sqrt(r.Float64()) // latent quality, skewed to good trays
	bias := []float64{0, 0.03, -0.03}[dev]  // stations do not read exactly alike
	clamp := func(x float64) float64 { return math.Min(1, math.Max(0, x)) }

	s := features.Sample{}
	// ToF: an ellipsoidal liver 40–80 mm high, dents where quality is low.
	height := 40 + 40*q + r.NormFloat64()*3
	s.Distance = make([]float64, features.Zones)
	s.Reflectance = make([]float64, features.Zones)
	s.Amplitude = make([]float64, features.Zones)
	dents := 0
	for i := range s.Distance {
		row, col := float64(i/8)-3.5, float64(i%8)-3.5
		e := 1 - (row*row)/16 - (col*col)/16
		h := 0.0
		if e > 0 {
			h = height * math.Sqrt(e)
			if r.Float64() > 0.6+0.4*q {
				h *= 0.4 // a dent or a missing piece
				dents++
			}
		}
		s.Distance[i] = math.Round(math.Max(0, features.SensorHeight-h+r.NormFloat64()*1.5))
		s.Reflectance[i] = math.Round(40 + 45*q + r.NormFloat64()*4)
		s.Amplitude[i] = math.Round(math.Max(0, 10+30*q+r.NormFloat64()*3))
	}
	if g.Histograms {
		s.Histogram = make([]float64, features.Zones*features.Bins)
		for z := 0; z < features.Zones; z++ {
			peak := (features.SensorHeight - (features.SensorHeight - s.Distance[z])) / 100 * 120
			for b := 0; b < features.Bins; b++ {
				d := (float64(b) - peak) / (2 + 3*(1-q))
				s.Histogram[z*features.Bins+b] = 25*math.Exp(-d*d/2) + math.Abs(r.NormFloat64())*0.2
			}
		}
	}
	s.VolumeMM3 = 1e6 * (0.8 + 0.4*q + r.NormFloat64()*0.03)
	s.SurfaceUniformity = 0.85
	s.DefectCount = float64(dents)
	s.ToFQuality = clamp(0.1 + 0.2*q + r.NormFloat64()*0.03)
	s.Freshness = clamp(0.45 + 0.55*q + r.NormFloat64()*0.05)
	s.FatQuality = clamp(0.3 + 0.7*q + r.NormFloat64()*0.08)
	s.Oxidation = clamp(0.7 - 0.7*q + r.NormFloat64()*0.05)
	s.SpectralQuality = clamp(q + bias + r.NormFloat64()*0.06)
	base := []float64{1400, 2200, 1950, 8000, 3650, 2400, 3000, 1800, 5000, 800}
	for i := range s.Channels {
		f := 1 + r.NormFloat64()*0.03
		if i == 6 || i == 7 { // red rises as the product browns
			f *= 1 + 0.8*(1-q)
		}
		if i == 0 { // violet falls with lipid oxidation
			f *= 0.6 + 0.4*q
		}
		s.Channels[i] = math.Round(base[i] * f)
	}
	s.FusionToF = clamp(q + bias + r.NormFloat64()*0.07)
	s.FusionSpectral = clamp(q - bias + r.NormFloat64()*0.09)
	final := clamp(0.6*s.FusionToF + 0.4*s.FusionSpectral)
	return Sample{
		SampleID:   fmt.Sprintf("SY-%06d-%04d", g.n, r.IntN(10000)),
		DeviceID:   Devices[dev],
		Features:   s,
		FinalScore: final,
		FinalGrade: Grade(final),
	}
}

// Grade maps a fusion score to its generated grade.
func Grade(score float64) string {
	grades := []string{"A+", "A", "B", "C"}
	for i, t := range Thresholds {
		if score >= t {
			return grades[i]
		}
	}
	return "REJECT"
}
