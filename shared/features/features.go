// Package features turns one stored SQAL sample (time-of-flight matrices and histograms,
// spectral channels, the device's own fusion scores) into the fixed, versioned vector of
// numbers that the quality models are trained on and predict from.
//
// Training and prediction call the same Extract, so a model never sees features computed
// two different ways. Any change to what a feature means, or to the list, bumps Version;
// a model records the Version it was trained with and refuses vectors of another version.
// Every feature is documented in README.md, field by field.
package features

import (
	"fmt"
	"math"
)

// Version identifies the feature set below. Bump it whenever Names or a formula changes.
const Version = "sqal-features/1"

// Geometry of the sensors (contract §1.5): the ToF sensor looks down from 100 mm over an
// 8x8 grid with 128-bin histograms per zone; the AS7341 reports 10 channels.
const (
	Zones         = 64
	Bins          = 128
	SensorHeight  = 100.0 // mm between the ToF sensor and the tray
	OccupiedAbove = 5.0   // mm: a zone whose product is taller than this counts as covered
	// DefectDeviation is how far (mm) a covered zone may sit below the mean covered height
	// before it counts as a surface defect (a dent, a missing piece).
	DefectDeviation = 20.0
	// LiverDensity converts volume to an estimated weight (g/cm³, contract §1.6.4).
	LiverDensity = 0.947
)

// Channel order of Sample.Channels: the eight visible channels, then Clear and NIR.
var ChannelNames = [10]string{"F1_415nm", "F2_445nm", "F3_480nm", "F4_515nm", "F5_555nm",
	"F6_590nm", "F7_630nm", "F8_680nm", "Clear", "NIR"}

// Sample is what Extract reads: the typed columns of sensor_samples (contract §2.1)
// and, when present, the 8x8x128 histogram. Matrices are row-major, 64 values.
type Sample struct {
	Distance    []float64 // vl53l8ch_distance_matrix, mm from the sensor (required, 64)
	Reflectance []float64 // vl53l8ch_reflectance_matrix, % (optional, 64 or nil)
	Amplitude   []float64 // vl53l8ch_amplitude_matrix, a.u. (optional, 64 or nil)
	// Histogram is vl53l8ch_raw.bins_matrix flattened zone-major (zone*128+bin), or nil.
	Histogram []float64

	VolumeMM3         float64
	SurfaceUniformity float64
	DefectCount       float64 // vl53l8ch_defect_count (defects reported by the device)
	ToFQuality        float64 // vl53l8ch_quality_score

	Channels        [10]float64 // as7341_channels in ChannelNames order
	Freshness       float64
	FatQuality      float64
	Oxidation       float64
	SpectralQuality float64 // as7341_quality_score

	FusionToF      float64 // fusion_vl53l8ch_score (0 when not sent)
	FusionSpectral float64 // fusion_as7341_score (0 when not sent)
}

// Names lists the features of Version, in vector order. Groups are prefixed tof_, hist_,
// spec_ and fusion_ so that a model can be trained on one sensor only.
var Names = []string{
	// time of flight: heights and shape
	"tof_height_mean_mm", "tof_height_max_mm", "tof_height_std_mm", "tof_coverage",
	"tof_height_uniformity", "tof_volume_cm3", "tof_weight_g", "tof_surface_uniformity",
	"tof_defect_zones", "tof_device_defects", "tof_edge_height_ratio",
	"tof_reflectance_mean", "tof_reflectance_std", "tof_amplitude_mean", "tof_amplitude_cv",
	"tof_quality_score",
	// time of flight: histogram statistics
	"hist_present", "hist_signal_mean", "hist_peak_bin_mean", "hist_peak_bin_std",
	"hist_spread_mean", "hist_entropy_mean", "hist_multi_peak_ratio",
	// spectral
	"spec_f1_rel", "spec_f2_rel", "spec_f3_rel", "spec_f4_rel", "spec_f5_rel", "spec_f6_rel",
	"spec_f7_rel", "spec_f8_rel", "spec_red_green", "spec_yellow_blue", "spec_violet_orange",
	"spec_nir_red", "spec_freshness_index", "spec_fat_quality_index", "spec_oxidation_index",
	"spec_quality_score",
	// fusion inputs
	"fusion_tof_score", "fusion_spectral_score", "fusion_weighted_score",
}

// Len is the length of a feature vector.
func Len() int { return len(Names) }

// Index returns the position of a feature name, or -1.
func Index(name string) int {
	for i, n := range Names {
		if n == name {
			return i
		}
	}
	return -1
}

// Extract computes the feature vector of s. It fails only when the required distance
// matrix is missing or an optional matrix has the wrong size; every value it returns is
// finite (non-finite inputs become 0) so a model never sees NaN.
func Extract(s Sample) ([]float64, error) {
	if len(s.Distance) != Zones {
		return nil, fmt.Errorf("extract features: distance matrix has %d values, want %d", len(s.Distance), Zones)
	}
	for name, m := range map[string][]float64{"reflectance": s.Reflectance, "amplitude": s.Amplitude} {
		if m != nil && len(m) != Zones {
			return nil, fmt.Errorf("extract features: %s matrix has %d values, want %d", name, len(m), Zones)
		}
	}
	if s.Histogram != nil && len(s.Histogram) != Zones*Bins {
		return nil, fmt.Errorf("extract features: histogram has %d values, want %d", len(s.Histogram), Zones*Bins)
	}
	v := make([]float64, 0, len(Names))
	v = appendToF(v, s)
	v = appendHistogram(v, s.Histogram)
	v = appendSpectral(v, s)
	v = append(v, finite(s.FusionToF), finite(s.FusionSpectral),
		0.6*finite(s.FusionToF)+0.4*finite(s.FusionSpectral))
	for i := range v {
		v[i] = finite(v[i])
	}
	if len(v) != len(Names) {
		panic(fmt.Sprintf("features: vector has %d values, Names has %d", len(v), len(Names)))
	}
	return v, nil
}

func appendToF(v []float64, s Sample) []float64 {
	var heights [Zones]float64
	for i, d := range s.Distance {
		heights[i] = math.Max(0, SensorHeight-finite(d))
	}
	mean, std := meanStd(heights[:])
	maxH := 0.0
	covered, coveredSum := 0, 0.0
	for _, h := range heights {
		maxH = math.Max(maxH, h)
		if h > OccupiedAbove {
			covered++
			coveredSum += h
		}
	}
	uniformity, defects := 0.0, 0
	if covered > 0 {
		cm := coveredSum / float64(covered)
		var ss float64
		for _, h := range heights {
			if h > OccupiedAbove {
				ss += (h - cm) * (h - cm)
				if cm-h > DefectDeviation {
					defects++
				}
			}
		}
		if cm > 0 {
			uniformity = math.Max(0, 1-math.Sqrt(ss/float64(covered))/cm)
		}
	}
	// Edge zones should be empty tray: product touching the border of the grid means a
	// badly placed or overfilled tray.
	edgeSum, edgeN := 0.0, 0
	for r := 0; r < 8; r++ {
		for c := 0; c < 8; c++ {
			if r == 0 || r == 7 || c == 0 || c == 7 {
				edgeSum += heights[r*8+c]
				edgeN++
			}
		}
	}
	edgeRatio := 0.0
	if mean > 0 {
		edgeRatio = edgeSum / float64(edgeN) / mean
	}
	reflMean, reflStd := meanStd(s.Reflectance)
	ampMean, ampStd := meanStd(s.Amplitude)
	ampCV := 0.0
	if ampMean > 0 {
		ampCV = ampStd / ampMean
	}
	volume := finite(s.VolumeMM3) / 1000
	return append(v, mean, maxH, std, float64(covered)/Zones, uniformity, volume,
		volume*LiverDensity, s.SurfaceUniformity, float64(defects), s.DefectCount, edgeRatio,
		reflMean, reflStd, ampMean, ampCV, s.ToFQuality)
}

// appendHistogram summarises the 64 per-zone histograms: where the main return sits (peak
// bin: height), how wide it is (spread: surface roughness), how disordered (entropy) and
// how often a zone sees two surfaces (multi-peak: folds, foreign bodies).
func appendHistogram(v []float64, hist []float64) []float64 {
	if hist == nil {
		return append(v, 0, 0, 0, 0, 0, 0, 0)
	}
	var signal, spread, entropy, multi float64
	var peaks [Zones]float64
	for z := 0; z < Zones; z++ {
		h := hist[z*Bins : (z+1)*Bins]
		total, peak, peakVal := 0.0, 0, -1.0
		for b, x := range h {
			x = math.Max(0, finite(x))
			total += x
			if x > peakVal {
				peak, peakVal = b, x
			}
		}
		signal += total
		peaks[z] = float64(peak)
		if total <= 0 {
			continue
		}
		var m1, m2, ent float64
		for b, x := range h {
			x = math.Max(0, finite(x))
			p := x / total
			m1 += p * float64(b)
			m2 += p * float64(b) * float64(b)
			if p > 0 {
				ent -= p * math.Log(p)
			}
		}
		spread += math.Sqrt(math.Max(0, m2-m1*m1))
		entropy += ent / math.Log(Bins)
		if countPeaks(h, 0.3*peakVal) >= 2 {
			multi++
		}
	}
	pm, ps := meanStd(peaks[:])
	return append(v, 1, signal/Zones, pm, ps, spread/Zones, entropy/Zones, multi/Zones)
}

// countPeaks counts local maxima above floor separated by at least two bins below floor
// (isolated noise spikes of one bin are not surfaces).
func countPeaks(h []float64, floor float64) int {
	n, in := 0, false
	below := 2
	for _, x := range h {
		if x > floor && floor > 0 {
			if !in && below >= 2 {
				n++
			}
			in, below = true, 0
		} else {
			in = false
			below++
		}
	}
	return n
}

func appendSpectral(v []float64, s Sample) []float64 {
	var visible float64
	for i := 0; i < 8; i++ {
		visible += math.Max(0, finite(s.Channels[i]))
	}
	for i := 0; i < 8; i++ {
		v = append(v, ratio(math.Max(0, finite(s.Channels[i])), visible))
	}
	ch := func(i int) float64 { return math.Max(0, finite(s.Channels[i])) }
	return append(v,
		ratio(ch(6), ch(4)), // red (630 nm) / green (555 nm): browning, haematoma
		ratio(ch(5), ch(2)), // yellow (590 nm) / blue (480 nm): bile, fat colour
		ratio(ch(0), ch(6)), // violet (415 nm) / orange-red (630 nm): oxidation of lipids
		ratio(ch(9), ch(7)), // NIR / red (680 nm): water and fat content
		s.Freshness, s.FatQuality, s.Oxidation, s.SpectralQuality)
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func meanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return 0, 0
	}
	for _, v := range x {
		mean += finite(v)
	}
	mean /= float64(len(x))
	for _, v := range x {
		d := finite(v) - mean
		std += d * d
	}
	return mean, math.Sqrt(std / float64(len(x)))
}

func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
