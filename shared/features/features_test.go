package features_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/testenv"
)

func flat(v float64) []float64 {
	out := make([]float64, features.Zones)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestNamesAreDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range features.Names {
		if seen[n] {
			t.Errorf("feature %s listed twice", n)
		}
		seen[n] = true
		if _, ok := features.Labels[n]; !ok {
			t.Errorf("feature %s has no operator label", n)
		}
	}
	if len(features.Labels) != len(features.Names) {
		t.Errorf("%d labels for %d features", len(features.Labels), len(features.Names))
	}
}

func TestExtract(t *testing.T) {
	dome := make([]float64, features.Zones)
	for i := range dome {
		r, c := float64(i/8)-3.5, float64(i%8)-3.5
		dome[i] = math.Max(20, 100-60*(1-(r*r+c*c)/25))
	}
	nan := flat(50)
	nan[3] = math.NaN()
	tests := []struct {
		name    string
		s       features.Sample
		wantErr string
		check   map[string]float64
	}{
		{name: "empty tray", s: features.Sample{Distance: flat(100)},
			check: map[string]float64{"tof_height_mean_mm": 0, "tof_coverage": 0, "hist_present": 0, "tof_defect_zones": 0}},
		{name: "flat block 40 mm", s: features.Sample{Distance: flat(60), VolumeMM3: 1e6},
			check: map[string]float64{"tof_height_mean_mm": 40, "tof_height_std_mm": 0, "tof_coverage": 1,
				"tof_height_uniformity": 1, "tof_volume_cm3": 1000, "tof_weight_g": 947}},
		{name: "dome", s: features.Sample{Distance: dome}, check: map[string]float64{"tof_coverage": 60.0 / 64, "tof_height_max_mm": 60 * (1 - 0.5/25)}},
		{name: "spectral ratios", s: features.Sample{Distance: flat(100),
			Channels: [10]float64{100, 100, 200, 100, 100, 100, 300, 100, 5000, 800}},
			check: map[string]float64{"spec_red_green": 3, "spec_yellow_blue": 0.5, "spec_f7_rel": 300.0 / 1100, "spec_nir_red": 8}},
		{name: "fusion", s: features.Sample{Distance: flat(100), FusionToF: 0.5, FusionSpectral: 1},
			check: map[string]float64{"fusion_weighted_score": 0.7}},
		{name: "NaN becomes 0", s: features.Sample{Distance: nan}, check: map[string]float64{}},
		{name: "no distance", s: features.Sample{}, wantErr: "distance matrix"},
		{name: "short reflectance", s: features.Sample{Distance: flat(1), Reflectance: []float64{1}}, wantErr: "reflectance"},
		{name: "short histogram", s: features.Sample{Distance: flat(1), Histogram: []float64{1}}, wantErr: "histogram"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := features.Extract(tc.s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(x) != features.Len() {
				t.Fatalf("%d values", len(x))
			}
			for i, v := range x {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%s = %v", features.Names[i], v)
				}
			}
			for name, want := range tc.check {
				if got := x[features.Index(name)]; math.Abs(got-want) > 1e-9 {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			again, _ := features.Extract(tc.s)
			if fmt.Sprint(again) != fmt.Sprint(x) {
				t.Error("Extract is not deterministic")
			}
		})
	}
}

// TestIngestedFixture follows a captured simulator frame through ingestion's own
// storage path (validated columns + compressed raw frame) and back: the features must
// see the histogram that only the raw frame holds.
func TestIngestedFixture(t *testing.T) {
	db := testenv.DB(t)
	ctx := context.Background()
	for _, name := range []string{fixtures.Sample1, fixtures.Sample2} {
		t.Run(name, func(t *testing.T) {
			frame := fixtures.Load(t, name)
			f, err := sample.Decode(frame)
			if err != nil {
				t.Fatal(err)
			}
			s, err := f.Sample()
			if err != nil {
				t.Fatal(err)
			}
			raw, enc := sample.EncodeRaw(nil, frame)
			ph := make([]string, len(sample.Columns))
			for i := range ph {
				ph[i] = fmt.Sprintf("$%d", i+1)
			}
			if _, err := db.Exec(ctx, `INSERT INTO sensor_samples ("`+strings.Join(sample.Columns, `", "`)+`") VALUES (`+
				strings.Join(ph, ", ")+`)`, s.Row(raw, enc)...); err != nil {
				t.Fatal(err)
			}
			st, err := features.Loader{Histograms: true}.Load(ctx, db, s.SampleID)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Sample.Histogram) != features.Zones*features.Bins {
				t.Fatalf("histogram of %d values", len(st.Sample.Histogram))
			}
			x, err := features.Extract(st.Sample)
			if err != nil {
				t.Fatal(err)
			}
			if x[features.Index("hist_present")] != 1 || x[features.Index("tof_height_max_mm")] < 50 ||
				x[features.Index("fusion_tof_score")] == 0 {
				t.Errorf("implausible features of %s: %v", name, x)
			}
			noHist, err := features.Loader{}.Load(ctx, db, s.SampleID)
			if err != nil || noHist.Sample.Histogram != nil {
				t.Fatalf("loader without histograms: %v, %d values", err, len(noHist.Sample.Histogram))
			}
		})
	}
	if _, err := (features.Loader{}).Load(ctx, db, "nope"); err == nil || !strings.Contains(err.Error(), "sample not found") {
		t.Fatalf("unknown sample: %v", err)
	}
}

func FuzzDecodeMatrix(f *testing.F) {
	f.Add([]byte(`[[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8]]`))
	f.Add([]byte(`[[1]]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := features.DecodeMatrix(b)
		if err == nil && len(m) != features.Zones {
			t.Fatalf("%d values without error", len(m))
		}
		if err == nil {
			if _, err := features.Extract(features.Sample{Distance: m}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzDecodeChannels(f *testing.F) {
	f.Add([]byte(`{"F1_415nm":1,"F2_445nm":2,"F3_480nm":3,"F4_515nm":4,"F5_555nm":5,"F6_590nm":6,"F7_630nm":7,"F8_680nm":8,"Clear":9,"NIR":10}`))
	f.Add([]byte(`{"F1_415nm":null}`))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = features.DecodeChannels(b) })
}

func FuzzHistogramFromFrame(f *testing.F) {
	f.Add([]byte(`{"vl53l8ch_raw":{"bins_matrix":[[[1,2]]]}}`))
	f.Add([]byte(`{"vl53l8ch_raw":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := features.HistogramFromFrame(b)
		if err == nil && h != nil && len(h) != features.Zones*features.Bins {
			t.Fatalf("%d values without error", len(h))
		}
	})
}

func FuzzDecodeHistogram(f *testing.F) {
	var b strings.Builder
	b.WriteString("[")
	for r := 0; r < 8; r++ {
		if r > 0 {
			b.WriteString(",")
		}
		b.WriteString("[")
		for c := 0; c < 8; c++ {
			if c > 0 {
				b.WriteString(",")
			}
			b.WriteString("[")
			for k := 0; k < features.Bins; k++ {
				if k > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "%g", float64(k)*0.1)
			}
			b.WriteString("]")
		}
		b.WriteString("]")
	}
	b.WriteString("]")
	valid := b.String()
	f.Add([]byte(valid))
	f.Add([]byte(`{"vl53l8ch_raw":{"bins_matrix":` + valid + `}}`))
	f.Add([]byte(`[[[1,2],[3]]]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := features.DecodeHistogram(in)
		if err == nil && len(h) != features.Zones*features.Bins {
			t.Fatalf("%d values without error", len(h))
		}
		h, err = features.HistogramFromFrame(in)
		if err == nil && h != nil && len(h) != features.Zones*features.Bins {
			t.Fatalf("%d values without error", len(h))
		}
	})
}

func TestDecodeHistogramAgreesWithEncodingJSON(t *testing.T) {
	frame := fixtures.Load(t, fixtures.Sample2)
	h, err := features.HistogramFromFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Raw struct {
			Bins [][][]float64 `json:"bins_matrix"`
		} `json:"vl53l8ch_raw"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Fatal(err)
	}
	i := 0
	for _, row := range f.Raw.Bins {
		for _, zone := range row {
			for _, v := range zone {
				if h[i] != v {
					t.Fatalf("value %d: %v, encoding/json %v", i, h[i], v)
				}
				i++
			}
		}
	}
	if i != len(h) {
		t.Fatalf("%d values, encoding/json %d", len(h), i)
	}
	for _, bad := range []string{`[[[1]]]`, `[`, `[[[1,2,x]]]`, `{"a":1}`, `[[[[1]]]]`, ``, `]`} {
		if _, err := features.DecodeHistogram([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if h, err := features.HistogramFromFrame([]byte(`{"type":"sensor_data","vl53l8ch_raw":{"meta":{}}}`)); err != nil || h != nil {
		t.Errorf("frame without bins: %v %v", h, err)
	}
}
