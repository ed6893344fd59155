package quality

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

func f(v float64) *float64 { return &v }

// series builds a window (newest first) with the given thickness and ΔE values.
func series(thickness, deltaE []float64) []Sample {
	n := max(len(thickness), len(deltaE))
	w := make([]Sample, n)
	for i := range w {
		w[i] = Sample{Time: time.Unix(int64(1000-i), 0), Grade: "A", FinalScore: 0.8}
		if i < len(thickness) {
			w[i].ThicknessMM = f(thickness[i])
		}
		if i < len(deltaE) {
			w[i].DeltaE = f(deltaE[i])
		}
	}
	return w
}

func TestComputeCapabilityAndTrend(t *testing.T) {
	// Newest first 61 … 50: oldest → newest rises by 1 mm per sample.
	var th, de []float64
	for v := 61.0; v >= 50; v-- {
		th = append(th, v)
	}
	for i := 0; i < 12; i++ {
		de = append(de, 10+2*float64(i%2)) // 10, 12, 10, 12, …
	}
	w := series(th, de)
	w[0].Grade = "REJECT"
	w[0].Channels = map[string]float64{"F7_630nm": 0, "F8_680nm": 500, "NIR": 0}
	b := Compute(w, 7)

	// Consecutive integers: sample variance n(n+1)/12 = 13.
	sd := math.Sqrt(13)
	wantPC := ProcessCapability{Cp: Round(10/(6*sd), 2), Cpk: Round(-0.5/(3*sd), 2), ProcessCapability: "incapable", Mean: 55.5, Std: 3.61}
	if b.ProcessCapability != wantPC {
		t.Errorf("process capability = %+v, want %+v", b.ProcessCapability, wantPC)
	}
	if want := (MovingAverage{MovingAvg: 55.5, MovingAvg10: 56.5, MovingAvg50: 55.5, Trend: "rising", Slope: 1}); b.MovingAverage != want {
		t.Errorf("moving average = %+v, want %+v", b.MovingAverage, want)
	}
	if want := (DimensionalDeviation{DeviationMM: 5.5, DeviationPercent: 11, TargetMM: 50, ToleranceMM: 5}); b.DimensionalDeviation != want {
		t.Errorf("deviation = %+v, want %+v", b.DimensionalDeviation, want)
	}
	// ΔE: mean 11, sample std sqrt(12/11).
	if want := (ColorHomogeneity{ColorHomogeneityCV: Round(math.Sqrt(12.0/11)/11*100, 1), ColorUniformity: "good",
		ColorStdDeltaE: 1.04, ColorMeanDeltaE: 11}); b.ColorHomogeneity != want {
		t.Errorf("color homogeneity = %+v, want %+v", b.ColorHomogeneity, want)
	}
	if want := (MaturityIndex{MaturityIndex: 0, MaturityStage: "out_of_spec"}); b.MaturityIndex != want {
		t.Errorf("maturity = %+v, want %+v", b.MaturityIndex, want)
	}
	if b.SpectralBands.RedOrangeRatio != 1.0 || b.SpectralBands.TotalIntensity != 500 {
		t.Errorf("spectral bands = %+v", b.SpectralBands)
	}
	if want := (Operational{ConformityRate: 91.7, DowngradeRate: 0, RejectRate: 8.3, ControlCadence: 7}); b.Operational != want {
		t.Errorf("operational = %+v, want %+v", b.Operational, want)
	}
	wantAlerts := []Alert{
		{"process_capability", "high", "Capabilité process insuffisante (Cpk=-0.05)"},
		{"color_deviation", "critical", "Déviation couleur critique (ΔE > 8.0)"},
		{"dimensional", "high", "Sous-remplissage détecté (+5.5 mm)"},
		{"maturity", "high", "Tendance oxydation détectée"},
		{"quality", "high", "Grade REJECT détecté"},
	}
	if !reflect.DeepEqual(b.Alerts, wantAlerts) {
		t.Errorf("alerts = %+v, want %+v", b.Alerts, wantAlerts)
	}
}

func TestComputeThresholds(t *testing.T) {
	tests := []struct {
		name      string
		thickness []float64
		check     func(t *testing.T, b Blocks)
	}{
		{"fewer than ten values: no capability study, no trend", []float64{60, 59, 58, 57, 56, 55, 54, 53, 52}, func(t *testing.T, b Blocks) {
			if b.ProcessCapability != (ProcessCapability{ProcessCapability: "unknown", Mean: 56}) {
				t.Errorf("capability = %+v", b.ProcessCapability)
			}
			if b.MovingAverage.Trend != "stable" || b.MovingAverage.Slope != 0 || b.MovingAverage.MovingAvg10 != 56 {
				t.Errorf("moving average = %+v", b.MovingAverage)
			}
			for _, a := range b.Alerts {
				if a.Type == "process_capability" {
					t.Errorf("no capability alert without a study: %+v", a)
				}
			}
		}},
		{"centred and capable", []float64{50, 50.5, 49.5, 50, 50.5, 49.5, 50, 50.5, 49.5, 50}, func(t *testing.T, b Blocks) {
			pc := b.ProcessCapability
			if pc.ProcessCapability != "capable" || !pc.IsCentered || pc.Mean != 50 {
				t.Errorf("capability = %+v", pc)
			}
			if !b.DimensionalDeviation.IsWithinTolerance || b.DimensionalDeviation.DeviationMM != 0 {
				t.Errorf("deviation = %+v", b.DimensionalDeviation)
			}
		}},
		{"falling", []float64{50, 51, 52, 53, 54, 55, 56, 57, 58, 59}, func(t *testing.T, b Blocks) {
			if b.MovingAverage.Trend != "falling" || b.MovingAverage.Slope != -1 {
				t.Errorf("moving average = %+v", b.MovingAverage)
			}
		}},
		{"zero spread", []float64{50, 50, 50, 50, 50, 50, 50, 50, 50, 50}, func(t *testing.T, b Blocks) {
			if pc := b.ProcessCapability; pc.Cp != 0 || pc.Cpk != 0 || pc.ProcessCapability != "incapable" {
				t.Errorf("capability = %+v", pc)
			}
		}},
		{"underfill sign", []float64{40}, func(t *testing.T, b Blocks) {
			if len(b.Alerts) != 1 || b.Alerts[0].Message != "Sous-remplissage détecté (-10.0 mm)" {
				t.Errorf("alerts = %+v", b.Alerts)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, Compute(series(tc.thickness, nil), 0)) })
	}
}

func TestMaturityAndFreshness(t *testing.T) {
	ref := map[string]float64{"F1_415nm": 1200, "F2_445nm": 1500, "F3_480nm": 2000, "F4_515nm": 2400, "F5_555nm": 3100,
		"F6_590nm": 3700, "F7_630nm": 4100, "F8_680nm": 3800, "NIR": 2700}
	with := func(k string, v float64) map[string]float64 {
		m := map[string]float64{}
		for a, b := range ref {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		channels  map[string]float64
		stage     string
		ratio     float64
		freshness FreshnessScore
	}{
		{ref, "immature", 1.41, FreshnessScore{FreshnessScore: 100, FreshnessTrend: "stable", EstimatedShelfLifeHours: 48}},
		{with("NIR", 2400), "mature", 1.58, FreshnessScore{FreshnessScore: 93.3, FreshnessTrend: "stable", EstimatedShelfLifeHours: 48, SpectralDegradationRate: 0.033}},
		{with("NIR", 1200), "optimal", 3.17, FreshnessScore{FreshnessScore: 66.7, FreshnessTrend: "stable", EstimatedShelfLifeHours: 12, SpectralDegradationRate: 0.167}},
		{with("F1_415nm", 2100), "immature", 1.41, FreshnessScore{FreshnessScore: 80, FreshnessTrend: "stable", EstimatedShelfLifeHours: 24, SpectralDegradationRate: 0.1}},
		{with("F8_680nm", 8200), "optimal", 3.04, FreshnessScore{FreshnessScore: 2.2, FreshnessTrend: "stable", EstimatedShelfLifeHours: 12, SpectralDegradationRate: 0.489}},
		{with("F8_680nm", 50000), "optimal", 18.52, FreshnessScore{FreshnessScore: 0, FreshnessTrend: "stable", EstimatedShelfLifeHours: 12, SpectralDegradationRate: 5.133}},
		{nil, "unknown", 0, FreshnessScore{FreshnessTrend: "unknown"}},
	}
	for _, tc := range tests {
		latest := &Sample{Channels: tc.channels}
		m := maturity(latest)
		if tc.channels == nil {
			m = maturity(&Sample{})
		}
		if m.MaturityStage != tc.stage || m.MaturityIndex != Round(tc.ratio, 2) || m.SpectralRatioRedNIR != m.MaturityIndex {
			t.Errorf("maturity(%v) = %+v, want %s %.2f", tc.channels, m, tc.stage, tc.ratio)
		}
		if got := freshness(latest); got != tc.freshness {
			t.Errorf("freshness(%v) = %+v, want %+v", tc.channels, got, tc.freshness)
		}
	}
	// With every channel but NIR at zero, the ratio is 0 and the stage out of spec.
	if m := maturity(&Sample{Channels: map[string]float64{"F8_680nm": 10}}); m.MaturityStage != "out_of_spec" || m.MaturityIndex != 0 {
		t.Errorf("NIR 0: %+v", m)
	}
}

func TestColorUniformityLabels(t *testing.T) {
	for _, tc := range []struct {
		spread float64 // ΔE alternates 10±spread
		want   string
	}{{0.2, "excellent"}, {0.7, "good"}, {1.5, "acceptable"}, {3, "low"}} {
		var de []float64
		for i := 0; i < 60; i++ { // only the newest 50 count
			de = append(de, 10+tc.spread*float64(1-2*(i%2)))
		}
		if got := colorHomogeneity(de).ColorUniformity; got != tc.want {
			t.Errorf("spread %v: %s, want %s", tc.spread, got, tc.want)
		}
	}
}

func TestRound(t *testing.T) {
	for _, tc := range []struct {
		x    float64
		n    int
		want string
	}{{0.6416666, 3, "0.642"}, {-0.0001, 2, "0"}, {2.5, 0, "3"}, {-2.5, 0, "-3"}, {83.33333, 1, "83.3"}} {
		b, _ := json.Marshal(Round(tc.x, tc.n))
		if string(b) != tc.want {
			t.Errorf("Round(%v, %d) = %s, want %s", tc.x, tc.n, b, tc.want)
		}
	}
}

func TestFoieGrasFromFrame(t *testing.T) {
	tests := []struct {
		name                string
		frame               string
		thickness, l, delta *float64
	}{
		{"simulator layout", `{"fusion":{"foie_gras_metrics":{"lobe_thickness_mm":89.5,"l_star":58.5,"delta_e":20.3,"x":[1]}},"vl53l8ch_raw":{}}`, f(89.5), f(58.5), f(20.3)},
		{"spaced", "{\"fusion\" : {\"foie_gras_metrics\" :\n {\"delta_e\": 1}}}", nil, nil, f(1)},
		{"key as a value: full decode", `{"fusion":{"note":"foie_gras_metrics","foie_gras_metrics":{"l_star":3}}}`, nil, f(3), nil},
		{"key before fusion", `{"x":{"foie_gras_metrics":{"l_star":1}},"fusion":{"foie_gras_metrics":{"l_star":3}}}`, nil, f(3), nil},
		{"nulls and strings", `{"fusion":{"foie_gras_metrics":{"lobe_thickness_mm":null,"l_star":"58"}}}`, nil, nil, nil},
		{"absent", `{"fusion":{}}`, nil, nil, nil},
		{"not an object", `{"fusion":{"foie_gras_metrics":[1]}}`, nil, nil, nil},
		{"broken", `{"fusion":{"foie_gras_metrics":{"l_star":`, nil, nil, nil},
	}
	for _, tc := range tests {
		th, l, d := FoieGrasFromFrame([]byte(tc.frame))
		if !reflect.DeepEqual(th, tc.thickness) || !reflect.DeepEqual(l, tc.l) || !reflect.DeepEqual(d, tc.delta) {
			t.Errorf("%s: got %v %v %v", tc.name, th, l, d)
		}
	}
}

func FuzzFoieGrasFromFrame(f *testing.F) {
	f.Add([]byte(`{"fusion":{"foie_gras_metrics":{"lobe_thickness_mm":89.5,"l_star":58.5,"delta_e":20.3}}}`))
	f.Add([]byte(`"foie_gras_metrics":{`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		th, l, d := FoieGrasFromFrame(frame)
		for _, p := range []*float64{th, l, d} {
			if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
				t.Fatalf("non-finite value from %q", frame)
			}
		}
	})
}
