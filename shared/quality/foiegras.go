package quality

import (
	"fmt"
	"math"
	"time"
)

// Constants of the metrics panel (sqal-contract §6.3): target lobe thickness and its
// specification limits, in millimetres.
const (
	TargetMM    = 50.0
	LSL         = 45.0
	USL         = 55.0
	ToleranceMM = 5.0

	// WindowSize is W of §6.3: the blocks look at the newest 100 samples.
	WindowSize = 100
)

// Sample is what the blocks need from one stored sample. Pointers are nil when the value
// is unknown (NULL column, or absent from the stored frame).
type Sample struct {
	Time          time.Time
	Grade         string
	FinalScore    float64
	ToFScore      *float64 // vl53l8ch_quality_score
	SpectralScore *float64 // as7341_quality_score
	AvgHeightMM   *float64 // vl53l8ch_avg_height_mm
	VolumeMM3     *float64 // vl53l8ch_volume_mm3
	// Channels holds as7341_channels (F1_415nm … F8_680nm, Clear, NIR); nil without data.
	Channels map[string]float64
	// From fusion.foie_gras_metrics of the stored frame.
	ThicknessMM *float64 // lobe_thickness_mm
	LStar       *float64 // l_star
	DeltaE      *float64 // delta_e
}

// Blocks are the twelve foie-gras metric blocks, with the exact keys the dashboard reads.
// No numeric field is ever null: the panel calls toFixed on every one of them.
type Blocks struct {
	Operational          Operational          `json:"operational"`
	QualityScores        QualityScores        `json:"quality_scores"`
	InstantMetrics       InstantMetrics       `json:"instant_metrics"`
	ProcessCapability    ProcessCapability    `json:"process_capability"`
	MovingAverage        MovingAverage        `json:"moving_average"`
	DimensionalDeviation DimensionalDeviation `json:"dimensional_deviation"`
	MaturityIndex        MaturityIndex        `json:"maturity_index"`
	FreshnessScore       FreshnessScore       `json:"freshness_score"`
	ColorHomogeneity     ColorHomogeneity     `json:"color_homogeneity"`
	SpectralBands        SpectralBands        `json:"spectral_bands"`
	Alerts               []Alert              `json:"alerts"`
	Targets              Targets              `json:"targets"`
}

type Operational struct {
	ConformityRate float64 `json:"conformity_rate"`
	DowngradeRate  float64 `json:"downgrade_rate"`
	RejectRate     float64 `json:"reject_rate"`
	ControlCadence int64   `json:"control_cadence"`
}

type QualityScores struct {
	DimensionalConformity float64 `json:"dimensional_conformity"`
	ColorConformity       float64 `json:"color_conformity"`
	GlobalQualityScore    float64 `json:"global_quality_score"`
}

type InstantMetrics struct {
	ThicknessMM float64 `json:"thickness_mm"`
	LStar       float64 `json:"l_star"`
	DeltaE      float64 `json:"delta_e"`
	VolumeMM3   float64 `json:"volume_mm3"`
}

type ProcessCapability struct {
	Cp                float64 `json:"cp"`
	Cpk               float64 `json:"cpk"`
	ProcessCapability string  `json:"process_capability"`
	Mean              float64 `json:"mean"`
	Std               float64 `json:"std"`
	IsCentered        bool    `json:"is_centered"`
}

type MovingAverage struct {
	MovingAvg   float64 `json:"moving_avg"`
	MovingAvg10 float64 `json:"moving_avg_10"`
	MovingAvg50 float64 `json:"moving_avg_50"`
	Trend       string  `json:"trend"`
	Slope       float64 `json:"slope"`
}

type DimensionalDeviation struct {
	DeviationMM       float64 `json:"deviation_mm"`
	DeviationPercent  float64 `json:"deviation_percent"`
	TargetMM          float64 `json:"target_mm"`
	ToleranceMM       float64 `json:"tolerance_mm"`
	IsWithinTolerance bool    `json:"is_within_tolerance"`
}

type MaturityIndex struct {
	MaturityIndex       float64 `json:"maturity_index"`
	MaturityStage       string  `json:"maturity_stage"`
	SpectralRatioRedNIR float64 `json:"spectral_ratio_red_nir"`
}

type FreshnessScore struct {
	FreshnessScore          float64 `json:"freshness_score"`
	FreshnessTrend          string  `json:"freshness_trend"`
	EstimatedShelfLifeHours int     `json:"estimated_shelf_life_hours"`
	SpectralDegradationRate float64 `json:"spectral_degradation_rate"`
}

type ColorHomogeneity struct {
	ColorHomogeneityCV float64 `json:"color_homogeneity_cv"`
	ColorUniformity    string  `json:"color_uniformity"`
	ColorStdDeltaE     float64 `json:"color_std_delta_e"`
	ColorMeanDeltaE    float64 `json:"color_mean_delta_e"`
}

type SpectralBands struct {
	// Bands is always an object ({} without data), never null.
	Bands           map[string]int64 `json:"spectral_bands"`
	SpectralProfile string           `json:"spectral_profile"`
	RedOrangeRatio  float64          `json:"red_orange_ratio"`
	TotalIntensity  int64            `json:"total_intensity"`
}

// Alert is one item of the blocks' alerts list (not read by the panel, kept for parity).
type Alert struct {
	Type     string `json:"type"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

type Targets struct {
	ConformityTarget int `json:"conformity_target"`
	CadenceTarget    int `json:"cadence_target"`
}

// bandNames maps the AS7341 channel keys onto the panel's band names, in display order.
var bandNames = [...][2]string{
	{"F1_415nm", "415nm_violet"},
	{"F2_445nm", "445nm_indigo"},
	{"F3_480nm", "480nm_blue"},
	{"F4_515nm", "515nm_cyan"},
	{"F5_555nm", "555nm_green"},
	{"F6_590nm", "590nm_yellow"},
	{"F7_630nm", "630nm_orange"},
	{"F8_680nm", "680nm_red"},
	{"NIR", "nir_850nm"},
}

// freshReference is the fresh-product spectrum the freshness score compares the latest
// sample against (F1…F8, NIR, in bandNames order).
var freshReference = [...]float64{1200, 1500, 2000, 2400, 3100, 3700, 4100, 3800, 2700}

// Compute builds the blocks from the window W (newest first, at most WindowSize samples)
// and the number of samples stored in the last 60 minutes (the control cadence).
func Compute(window []Sample, cadence int64) Blocks {
	b := Blocks{
		Alerts:  []Alert{},
		Targets: Targets{ConformityTarget: 95, CadenceTarget: 120},
	}
	b.Operational = operational(window, cadence)

	// Series of the window, newest first; samples without the value are skipped.
	var thickness, deltaE []float64
	for _, s := range window {
		if s.ThicknessMM != nil {
			thickness = append(thickness, *s.ThicknessMM)
		}
		if s.DeltaE != nil {
			deltaE = append(deltaE, *s.DeltaE)
		}
	}

	var latest *Sample
	if len(window) > 0 {
		latest = &window[0]
	}
	b.QualityScores = qualityScores(window, latest)
	b.InstantMetrics = instantMetrics(latest)
	b.ProcessCapability = processCapability(thickness)
	b.MovingAverage = movingAverage(thickness)
	b.DimensionalDeviation = dimensionalDeviation(thickness)
	b.MaturityIndex = maturity(latest)
	b.FreshnessScore = freshness(latest)
	b.ColorHomogeneity = colorHomogeneity(deltaE)
	b.SpectralBands = spectralBands(latest)
	b.Alerts = alerts(b, latest, len(thickness) > 0)
	return b
}

func operational(w []Sample, cadence int64) Operational {
	o := Operational{ControlCadence: cadence}
	if len(w) == 0 {
		return o
	}
	var c, rej int
	for _, s := range w {
		switch s.Grade {
		case "C":
			c++
		case "REJECT":
			rej++
		}
	}
	n := float64(len(w))
	o.ConformityRate = Round(float64(len(w)-rej)/n*100, 1)
	o.DowngradeRate = Round(float64(c)/n*100, 1)
	o.RejectRate = Round(float64(rej)/n*100, 1)
	return o
}

func qualityScores(w []Sample, latest *Sample) QualityScores {
	var q QualityScores
	if latest == nil {
		return q
	}
	q.DimensionalConformity = Round(deref(latest.ToFScore)*100, 1)
	q.ColorConformity = Round(deref(latest.SpectralScore)*100, 1)
	var sum float64
	for _, s := range w {
		sum += s.FinalScore
	}
	q.GlobalQualityScore = Round(sum/float64(len(w))*100, 1)
	return q
}

func instantMetrics(latest *Sample) InstantMetrics {
	var m InstantMetrics
	if latest == nil {
		return m
	}
	switch {
	case latest.ThicknessMM != nil:
		m.ThicknessMM = Round(*latest.ThicknessMM, 2)
	case latest.AvgHeightMM != nil:
		m.ThicknessMM = Round(*latest.AvgHeightMM, 2)
	}
	m.LStar = Round(deref(latest.LStar), 2)
	m.DeltaE = Round(deref(latest.DeltaE), 2)
	m.VolumeMM3 = Round(deref(latest.VolumeMM3), 2)
	return m
}

func processCapability(t []float64) ProcessCapability {
	if len(t) < 10 {
		// Too few values for a capability study: say so instead of inventing one.
		return ProcessCapability{ProcessCapability: "unknown", Mean: Round(mean(t), 1)}
	}
	m, sd := mean(t), sampleStd(t)
	p := ProcessCapability{
		Mean:       Round(m, 1),
		Std:        Round(sd, 2),
		IsCentered: math.Abs(m-TargetMM) < 1,
	}
	var cpk float64
	if sd > 0 {
		p.Cp = Round((USL-LSL)/(6*sd), 2)
		cpk = math.Min(USL-m, m-LSL) / (3 * sd)
		p.Cpk = Round(cpk, 2)
	}
	switch {
	case cpk >= 1.33:
		p.ProcessCapability = "capable"
	case cpk >= 1.0:
		p.ProcessCapability = "acceptable"
	default:
		p.ProcessCapability = "incapable"
	}
	return p
}

func movingAverage(t []float64) MovingAverage {
	all := mean(t)
	m := MovingAverage{MovingAvg: Round(all, 2), MovingAvg10: Round(all, 2), MovingAvg50: Round(all, 2), Trend: "stable"}
	if len(t) >= 10 {
		m.MovingAvg10 = Round(mean(t[:10]), 2)
	}
	if len(t) >= 50 {
		m.MovingAvg50 = Round(mean(t[:50]), 2)
	}
	if len(t) < 10 {
		return m
	}
	// Least-squares slope of the newest ≤ 50 values taken oldest → newest, so that a
	// growing thickness gives a positive slope.
	n := min(len(t), 50)
	ys := make([]float64, n)
	for i := range n {
		ys[i] = t[n-1-i]
	}
	slope := linearSlope(ys)
	m.Slope = Round(slope, 3)
	switch {
	case slope > 0.1:
		m.Trend = "rising"
	case slope < -0.1:
		m.Trend = "falling"
	}
	return m
}

func dimensionalDeviation(t []float64) DimensionalDeviation {
	d := DimensionalDeviation{TargetMM: TargetMM, ToleranceMM: ToleranceMM}
	if len(t) == 0 {
		return d
	}
	dev := mean(t) - TargetMM
	d.DeviationMM = Round(dev, 2)
	d.DeviationPercent = Round(dev/TargetMM*100, 1)
	d.IsWithinTolerance = math.Abs(dev) <= ToleranceMM
	return d
}

func maturity(latest *Sample) MaturityIndex {
	m := MaturityIndex{MaturityStage: "unknown"}
	if latest == nil || len(latest.Channels) == 0 {
		return m
	}
	var ratio float64
	if nir := latest.Channels["NIR"]; nir != 0 {
		ratio = latest.Channels["F8_680nm"] / nir
	}
	m.MaturityIndex = Round(ratio, 2)
	m.SpectralRatioRedNIR = m.MaturityIndex
	switch {
	case ratio > 2.0:
		m.MaturityStage = "optimal"
	case ratio > 1.5:
		m.MaturityStage = "mature"
	case ratio > 1.0:
		m.MaturityStage = "immature"
	default:
		m.MaturityStage = "out_of_spec"
	}
	return m
}

func freshness(latest *Sample) FreshnessScore {
	f := FreshnessScore{FreshnessTrend: "unknown"}
	if latest == nil || len(latest.Channels) == 0 {
		return f
	}
	var d float64
	for i, bn := range bandNames {
		d += math.Abs(latest.Channels[bn[0]] - freshReference[i])
	}
	d /= float64(len(bandNames))
	score := math.Max(0, 100*(1-d/500))
	f.FreshnessScore = Round(score, 1)
	f.FreshnessTrend = "stable"
	f.SpectralDegradationRate = Round(d/1000, 3)
	switch {
	case score > 90:
		f.EstimatedShelfLifeHours = 48
	case score > 70:
		f.EstimatedShelfLifeHours = 24
	default:
		f.EstimatedShelfLifeHours = 12
	}
	return f
}

func colorHomogeneity(deltaE []float64) ColorHomogeneity {
	c := ColorHomogeneity{ColorUniformity: "unknown"}
	if len(deltaE) > 50 {
		deltaE = deltaE[:50]
	}
	if len(deltaE) < 10 {
		return c
	}
	m, sd := mean(deltaE), sampleStd(deltaE)
	var cv float64
	if m != 0 {
		cv = sd / m * 100
	}
	c.ColorHomogeneityCV = Round(cv, 1)
	c.ColorStdDeltaE = Round(sd, 2)
	c.ColorMeanDeltaE = Round(m, 2)
	switch {
	case cv < 5:
		c.ColorUniformity = "excellent"
	case cv < 10:
		c.ColorUniformity = "good"
	case cv < 20:
		c.ColorUniformity = "acceptable"
	default:
		c.ColorUniformity = "low"
	}
	return c
}

func spectralBands(latest *Sample) SpectralBands {
	s := SpectralBands{Bands: map[string]int64{}, SpectralProfile: "foie_gras_cru_extra"}
	if latest == nil || len(latest.Channels) == 0 {
		return s
	}
	for _, bn := range bandNames {
		v := int64(math.Round(latest.Channels[bn[0]]))
		s.Bands[bn[1]] = v
		s.TotalIntensity += v
	}
	s.RedOrangeRatio = 1.0
	if f7 := latest.Channels["F7_630nm"]; f7 != 0 {
		s.RedOrangeRatio = Round(latest.Channels["F8_680nm"]/f7, 2)
	}
	return s
}

func alerts(b Blocks, latest *Sample, haveThickness bool) []Alert {
	out := []Alert{}
	if latest == nil {
		return out
	}
	if pc := b.ProcessCapability; pc.ProcessCapability != "unknown" && pc.Cpk < 1.0 {
		out = append(out, Alert{"process_capability", "high", fmt.Sprintf("Capabilité process insuffisante (Cpk=%.2f)", pc.Cpk)})
	}
	if latest.DeltaE != nil && *latest.DeltaE > 8.0 {
		out = append(out, Alert{"color_deviation", "critical", "Déviation couleur critique (ΔE > 8.0)"})
	}
	if dev := b.DimensionalDeviation.DeviationMM; haveThickness && math.Abs(dev) > ToleranceMM {
		out = append(out, Alert{"dimensional", "high", fmt.Sprintf("Sous-remplissage détecté (%+.1f mm)", dev)})
	}
	if b.MaturityIndex.MaturityStage != "unknown" && b.MaturityIndex.MaturityIndex < 1.0 {
		out = append(out, Alert{"maturity", "high", "Tendance oxydation détectée"})
	}
	switch latest.Grade {
	case "C":
		out = append(out, Alert{"quality", "medium", "Grade C détecté"})
	case "REJECT":
		out = append(out, Alert{"quality", "high", "Grade REJECT détecté"})
	}
	return out
}

// Round rounds x to n decimals, half away from zero.
func Round(x float64, n int) float64 {
	p := math.Pow(10, float64(n))
	r := math.Round(x*p) / p
	if r == 0 {
		return 0 // no "-0" on the wire
	}
	return r
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// sampleStd is the sample standard deviation (n−1 denominator).
func sampleStd(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := mean(xs)
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1))
}

// linearSlope is the least-squares slope of ys against their index 0..n-1.
func linearSlope(ys []float64) float64 {
	n := float64(len(ys))
	if n < 2 {
		return 0
	}
	xm := (n - 1) / 2
	ym := mean(ys)
	var num, den float64
	for i, y := range ys {
		dx := float64(i) - xm
		num += dx * (y - ym)
		den += dx * dx
	}
	return num / den
}
