package sample

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// The hand-written encoder must produce what encoding/json produces for the struct.
func TestUpdateEncodingMatchesEncodingJSON(t *testing.T) {
	base := fixtures.Load(t, fixtures.Minimal)
	frames := [][]byte{fixtures.Load(t, fixtures.Sample1), fixtures.Load(t, fixtures.Sample2), base,
		mutate(t, mutate(t, base, "vl53l8ch.avg_reflectance", 1e-7, false), "device_id", `ESP32_<&>"é_01`, false),
		mutate(t, base, "vl53l8ch.volume_mm3", 1e22, false),
		mutate(t, base, "vl53l8ch.defects", map[string]any{"foreign_body": map[string]any{"position": []int{2, 3}, "severity": 0.5, "description": "x"}}, false),
	}
	for i, fr := range frames {
		s := mustSample(t, fr)
		got, err := s.UpdateJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(s.Update())
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, got); err != nil {
			t.Fatalf("frame %d: invalid JSON: %v", i, err)
		}
		// encoding/json also escapes <, > and & inside the raw values; same JSON value.
		var escaped bytes.Buffer
		json.HTMLEscape(&escaped, compact.Bytes())
		if !bytes.Equal(escaped.Bytes(), want) {
			t.Errorf("frame %d:\n got %.300s\nwant %.300s", i, escaped.Bytes(), want)
		}
		ev, err := s.EventJSON(got)
		if err != nil {
			t.Fatal(err)
		}
		var back StoredEvent
		if err := json.Unmarshal(ev, &back); err != nil || back.SampleID != s.SampleID || !bytes.Equal(back.SensorUpdate, got) {
			t.Errorf("frame %d: event %v %.200s", i, err, ev)
		}
	}
}

// TestSensorUpdateShape checks the §4.5 key order and the values taken from sample-1.
func TestSensorUpdateShape(t *testing.T) {
	s := mustSample(t, fixtures.Load(t, fixtures.Sample1))
	enc, _ := s.UpdateJSON()
	var buf bytes.Buffer
	_ = json.Compact(&buf, enc) // raw values keep the frame's spacing; compare compacted
	u := buf.Bytes()
	order := []string{`{"type":"sensor_update","timestamp":"2026-11-27T07:55:53.695585+00:00","sample_id":"MG-261127-1895-033","device_id":"ESP32_DEMO_MT_01","vl53l8ch":{"raw":{"distance_matrix":[[95,`,
		`"status_matrix":[[5,5,5,5,5,5,5,5]`, `"ambient_matrix":[[`, `"meta":{"user_guide":{"Distance_matrix (mm)"`,
		`"analysis":{"volume_mm3":1037036.0584178903,"surface_uniformity":0.85,"quality_score":`, `"grade":"REJECT","avg_distance_mm":87.390625,"std_distance_mm":19.86`,
		`"avg_reflectance":null,"bins_analysis":{`, `"reflectance_analysis":{`, `"amplitude_consistency":{`, `"score_breakdown":{`, `"stats":{`,
		`"defects":[{"pos":[2,4]`, `"volume_trapezoidal_mm3":`, `"volume_simpson_mm3":`, `"volume_spline_mm3":`,
		`"as7341":{"raw":{"F1_415nm":1403,"F2_445nm":2186,"F3_480nm":1958,"F4_515nm":7956,"F5_555nm":3641,"F6_590nm":2434,"F7_630nm":4077,"F8_680nm":2538,"Clear":5000,"NIR":800},"analysis":{"freshness_index":1,"fat_quality_index":1,"oxidation_index":0,"quality_score":`,
		`"ratio_red_nir":null,"ratio_clear_nir":null,"channels":null,"spectral_ratios":{`, `"quality_metrics":{`, `"color_uniformity":1.0,"defects":[]`, `"grade":"A+"}}`,
		`"fusion":{"final_score":0.8063076884853211,"final_grade":"A","is_compliant":true,"weight_tof":0.6,"weight_spectral":0.4,"confidence_level":null,"tof_score":0.6771794808088686,"spectral_score":0.9999999999999999,"tof_contribution":0.6,"spectral_contribution":0.4,"combined_defects":[`,
		`"num_defects":10,"metrics":{`, `"foie_gras_metrics":{`, `"vl53l8ch_grade":"REJET - Qualit\u00e9 insuffisante","vl53l8ch_score":0.6771794808088686,"as7341_grade":"A+","as7341_score":0.9999999999999999,"defects":[`,
		`"blockchain":{"blockchain_hash":null,"blockchain_timestamp":null,"lot_abattage":"LOT-20261127--033","eleveur":"Ferme Martin","provenance":"P\u00e9rigord, France","qr_code_base64":null}}`,
	}
	pos := 0
	for _, part := range order {
		i := strings.Index(string(u[pos:]), part)
		if i < 0 {
			t.Fatalf("sensor_update: %q not found after offset %d", part, pos)
		}
		pos += i + len(part)
	}
	if pos != len(u) {
		t.Errorf("trailing bytes: %q", u[pos:])
	}
	t.Logf("sensor_update of sample-1: %d bytes", len(u))
	// minimal frame: defaults of §4.5
	m := mustSample(t, fixtures.Load(t, fixtures.Minimal))
	mu, _ := m.UpdateJSON()
	var doc map[string]any
	if err := json.Unmarshal(mu, &doc); err != nil {
		t.Fatal(err)
	}
	fu := doc["fusion"].(map[string]any)
	if fu["combined_defects"] == nil || fu["num_defects"] != 0.0 || fu["is_compliant"] != true || fu["weight_tof"] != 0.6 {
		t.Errorf("fusion defaults: %v", fu)
	}
	raw := doc["vl53l8ch"].(map[string]any)["raw"].(map[string]any)
	if raw["meta"] != nil || len(raw["status_matrix"].([]any)) != 0 {
		t.Errorf("raw defaults: %v", raw)
	}
}

// The stored event carries the vl53l8ch volume and average height (what the columns
// vl53l8ch_volume_mm3 and vl53l8ch_avg_height_mm store), null when the frame has no
// average height.
func TestEventVolumeAndHeight(t *testing.T) {
	f := func(x float64) *float64 { return &x }
	minimal := fixtures.Load(t, fixtures.Minimal)
	cases := []struct {
		name           string
		frame          []byte
		volume, height *float64
	}{
		{"sample-1", fixtures.Load(t, fixtures.Sample1), f(1037036.0584178903), f(12.609670805775984)},
		{"sample-2", fixtures.Load(t, fixtures.Sample2), f(986741.8363709559), f(12.050846116365605)},
		{"minimal: no height", minimal, f(1000000), nil},
		{"height from stats", mutate(t, minimal, "vl53l8ch.stats.average_height_mm", 21.5, false), f(1000000), f(21.5)},
		{"direct height first", mutate(t, mutate(t, minimal, "vl53l8ch.stats.average_height_mm", 21.5, false),
			"vl53l8ch.average_height_mm", 30, false), f(1000000), f(30)},
	}
	eq := func(a, b *float64) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
	for _, tc := range cases {
		s := mustSample(t, tc.frame)
		data := eventOf(t, s)
		var ev StoredEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		if !eq(ev.VolumeMM3, tc.volume) || !eq(ev.AvgHeightMM, tc.height) {
			t.Errorf("%s: volume %v height %v, want %v %v", tc.name, ev.VolumeMM3, ev.AvgHeightMM, tc.volume, tc.height)
		}
		// The same values as the row's columns.
		row := s.Row(nil, EncodingZstd)
		col := func(name string) any { return row[slices.Index(Columns, name)] }
		if v := col("vl53l8ch_volume_mm3").(float64); !eq(&v, ev.VolumeMM3) || !eq(col("vl53l8ch_avg_height_mm").(*float64), ev.AvgHeightMM) {
			t.Errorf("%s: event differs from the row: %v %v", tc.name, col("vl53l8ch_volume_mm3"), col("vl53l8ch_avg_height_mm"))
		}
		if tc.height == nil && !bytes.Contains(data, []byte(`"vl53l8ch_avg_height_mm":null,`)) {
			t.Errorf("%s: height not null in %.400s", tc.name, data)
		}
	}
}
