package sqalread_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/sqalread"
	"github.com/sqalfn/sqal/shared/testenv"
)

// sampleKeys is the documented order of SampleDict (contract §5.2).
var sampleKeys = []string{"time", "sample_id", "device_id", "lot_id",
	"vl53l8ch_distance_matrix", "vl53l8ch_reflectance_matrix", "vl53l8ch_amplitude_matrix",
	"vl53l8ch_integration_time", "vl53l8ch_temperature_c", "vl53l8ch_volume_mm3",
	"vl53l8ch_avg_height_mm", "vl53l8ch_max_height_mm", "vl53l8ch_min_height_mm",
	"vl53l8ch_surface_uniformity", "vl53l8ch_bins_analysis", "vl53l8ch_reflectance_analysis",
	"vl53l8ch_amplitude_consistency", "vl53l8ch_quality_score", "vl53l8ch_grade",
	"vl53l8ch_score_breakdown", "vl53l8ch_defects", "as7341_channels", "as7341_integration_time",
	"as7341_gain", "as7341_freshness_index", "as7341_fat_quality_index", "as7341_oxidation_index",
	"as7341_spectral_analysis", "as7341_color_analysis", "as7341_quality_score", "as7341_grade",
	"as7341_score_breakdown", "as7341_defects", "fusion_final_score", "fusion_final_grade",
	"fusion_vl53l8ch_score", "fusion_as7341_score", "fusion_defects", "fusion_is_compliant",
	"meta_firmware_version", "meta_temperature_c", "meta_humidity_percent", "meta_config_profile",
	"created_at", "poids_foie_estime_g"}

// keysInOrder returns the top-level keys of a JSON object in document order.
func keysInOrder(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

const fullSample = `INSERT INTO sensor_samples (timestamp, device_id, sample_id, lot_id,
 vl53l8ch_distance_matrix, vl53l8ch_reflectance_matrix, vl53l8ch_amplitude_matrix, vl53l8ch_bins_matrix,
 vl53l8ch_volume_mm3, vl53l8ch_avg_height_mm, vl53l8ch_max_height_mm, vl53l8ch_min_height_mm,
 vl53l8ch_base_area_mm2, vl53l8ch_surface_uniformity, vl53l8ch_defect_count, vl53l8ch_quality_score,
 vl53l8ch_grade, vl53l8ch_bins_analysis, vl53l8ch_reflectance_analysis, vl53l8ch_amplitude_consistency,
 vl53l8ch_score_breakdown, vl53l8ch_defects, as7341_channels, as7341_integration_time, as7341_gain,
 as7341_freshness_index, as7341_fat_quality_index, as7341_oxidation_index, as7341_quality_score,
 as7341_grade, as7341_spectral_analysis, as7341_color_analysis, as7341_score_breakdown, as7341_defects,
 fusion_final_score, fusion_final_grade, fusion_vl53l8ch_score, fusion_as7341_score, fusion_confidence,
 fusion_defects, fusion_is_compliant, meta_firmware_version, meta_temperature_c, meta_humidity_percent,
 meta_config_profile, created_at, poids_foie_estime_g, code_lot)
VALUES ('2026-11-27T07:55:53.695585Z', 'ESP32_DEMO_MT_01', 'MG-261127-1895-033', 3468,
 '[[95,95],[94,93]]', '[[40,41]]', '[[0,50]]', '[[[1,2]]]',
 1037036.058, 12.61, 83.313, 0, 90000, 0.85, 10, 0.082,
 'REJECT', '{"texture_score":[[0.5]]}', '{"avg_reflectance":150.0}', '{"signal_stability":0.92}',
 '{"volume_score":0.082}', '[{"pos":[2,4],"type":"foreign_body"}]',
 '{"F1_415nm":1403,"NIR":800}', 100, 8,
 1.0, 0.98, 0.0, 1.0,
 'A+', '{"violet_orange_ratio":0.34}', '{"score":84}', '{"overall_grade":"A+"}', '["Indice bas"]',
 0.8063076884853211, 'A', 0.677, 1.0, 0.9,
 '[{"type":"Spectral: x"}]', true, '1.0.0', 19.476, 45.0,
 'foiegras_standard_barquette', '2026-11-27T07:55:54.5Z', 982.1, 'LL2611')`

func TestLatestSample(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)

	if _, err := sqalread.LatestSample(ctx, db); !errors.Is(err, sqalread.ErrNoSample) {
		t.Fatalf("empty table: got %v, want ErrNoSample", err)
	}
	if _, err := db.Exec(ctx, fullSample); err != nil {
		t.Fatal(err)
	}
	// An older, minimal sample of another device must not win.
	if _, err := db.Exec(ctx, `INSERT INTO sensor_samples (timestamp, device_id, sample_id,
		fusion_final_score, fusion_final_grade) VALUES ('2026-11-27T07:00:00Z', 'OTHER', 'S-OLD', 0.3, 'REJECT')`); err != nil {
		t.Fatal(err)
	}
	s, err := sqalread.LatestSample(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysInOrder(t, b); strings.Join(got, ",") != strings.Join(sampleKeys, ",") {
		t.Fatalf("keys:\n got %v\nwant %v", got, sampleKeys)
	}
	want := `{"time":"2026-11-27T07:55:53.695585+00:00","sample_id":"MG-261127-1895-033","device_id":"ESP32_DEMO_MT_01","lot_id":3468,` +
		`"vl53l8ch_distance_matrix":[[95, 95], [94, 93]],"vl53l8ch_reflectance_matrix":[[40, 41]],"vl53l8ch_amplitude_matrix":[[0, 50]],` +
		`"vl53l8ch_integration_time":null,"vl53l8ch_temperature_c":null,"vl53l8ch_volume_mm3":1037036.058,` +
		`"vl53l8ch_avg_height_mm":12.61,"vl53l8ch_max_height_mm":83.313,"vl53l8ch_min_height_mm":0,"vl53l8ch_surface_uniformity":0.85,` +
		`"vl53l8ch_bins_analysis":{"texture_score": [[0.5]]},"vl53l8ch_reflectance_analysis":{"avg_reflectance": 150.0},` +
		`"vl53l8ch_amplitude_consistency":{"signal_stability": 0.92},"vl53l8ch_quality_score":0.082,"vl53l8ch_grade":"REJECT",` +
		`"vl53l8ch_score_breakdown":{"volume_score": 0.082},"vl53l8ch_defects":[{"pos": [2, 4], "type": "foreign_body"}],` +
		`"as7341_channels":{"NIR": 800, "F1_415nm": 1403},"as7341_integration_time":100,"as7341_gain":8,` +
		`"as7341_freshness_index":1,"as7341_fat_quality_index":0.98,"as7341_oxidation_index":0,` +
		`"as7341_spectral_analysis":{"violet_orange_ratio": 0.34},"as7341_color_analysis":{"score": 84},"as7341_quality_score":1,` +
		`"as7341_grade":"A+","as7341_score_breakdown":{"overall_grade": "A+"},"as7341_defects":["Indice bas"],` +
		`"fusion_final_score":0.8063076884853211,"fusion_final_grade":"A","fusion_vl53l8ch_score":0.677,"fusion_as7341_score":1,` +
		`"fusion_defects":[{"type": "Spectral: x"}],"fusion_is_compliant":true,"meta_firmware_version":"1.0.0",` +
		`"meta_temperature_c":19.476,"meta_humidity_percent":45,"meta_config_profile":"foiegras_standard_barquette",` +
		`"created_at":"2026-11-27T07:55:54.500000+00:00","poids_foie_estime_g":982.1}`
	if want = compact(t, want); string(b) != want {
		t.Fatalf("SampleDict:\n got %s\nwant %s", b, want)
	}

	// latest_sample message data: the 45 keys then the three copies.
	lb, err := json.Marshal(s.Live())
	if err != nil {
		t.Fatal(err)
	}
	keys := keysInOrder(t, lb)
	if got := strings.Join(keys[45:], ","); got != "final_score,final_grade,timestamp" || len(keys) != 48 {
		t.Fatalf("live keys: %v", keys)
	}
	if !bytes.HasSuffix(lb, []byte(`"final_score":0.8063076884853211,"final_grade":"A","timestamp":"2026-11-27T07:55:53.695585+00:00"}`)) {
		t.Fatalf("live tail: %s", lb)
	}

	other, err := sqalread.LatestSampleOf(ctx, db, "OTHER")
	if err != nil || other.SampleID != "S-OLD" || other.FusionIsCompliant == nil || *other.FusionIsCompliant {
		t.Fatalf("LatestSampleOf(OTHER) = %+v, %v", other, err)
	}
	if _, err := sqalread.LatestSampleOf(ctx, db, "NOPE"); !errors.Is(err, sqalread.ErrNoSample) {
		t.Fatalf("unknown device: %v", err)
	}
	if _, err := sqalread.SampleByID(ctx, db, "MG-261127-1895-033"); err != nil {
		t.Fatal(err)
	}
}

func TestCompliant(t *testing.T) {
	tr, fa := true, false
	for _, tc := range []struct {
		stored *bool
		grade  string
		want   string
	}{
		{nil, "A", "true"}, {nil, "REJECT", "false"}, {nil, "", "null"},
		{&fa, "A", "false"}, {&tr, "REJECT", "true"},
	} {
		b, _ := json.Marshal(sqalread.Compliant(tc.stored, tc.grade))
		if string(b) != tc.want {
			t.Errorf("Compliant(%v, %q) = %s, want %s", tc.stored, tc.grade, b, tc.want)
		}
	}
}

func TestAlertAndDevice(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)
	var id1, id2 int64
	if err := db.QueryRow(ctx, `INSERT INTO sqal_alerts (time, alert_type, severity, title, defect_details)
		VALUES ('2026-11-27T08:00:00Z', 'quality_low', 'warning', 'quality_low', to_jsonb('{"fusion_score":0.5}'::text))
		RETURNING alert_id`).Scan(&id1); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `INSERT INTO sqal_alerts (time, device_id, sample_id, alert_type, severity, title, message,
		defect_details, acknowledged, acknowledged_by, acknowledged_at)
		VALUES ('2026-11-27T08:00:00Z', 'D1', 'S1', 'grade_reject', 'critical', 'grade_reject', 'Échantillon REJETÉ',
		'{"is_compliant":false}', true, 'op', '2026-11-27T09:00:00Z') RETURNING alert_id`).Scan(&id2); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   int64
		want string
	}{
		{id1, `{"time":"2026-11-27T08:00:00.000000+00:00","alert_id":%d,"device_id":"","sample_id":"","alert_type":"quality_low","severity":"warning","message":"quality_low","data_context":{"fusion_score":0.5},"is_acknowledged":false,"acknowledged_at":null,"acknowledged_by":null}`},
		{id2, `{"time":"2026-11-27T08:00:00.000000+00:00","alert_id":%d,"device_id":"D1","sample_id":"S1","alert_type":"grade_reject","severity":"critical","message":"Échantillon REJETÉ","data_context":{"is_compliant": false},"is_acknowledged":true,"acknowledged_at":"2026-11-27T09:00:00.000000+00:00","acknowledged_by":"op"}`},
	} {
		a, err := sqalread.AlertByID(ctx, db, tc.id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(a)
		if want := compact(t, strings.Replace(tc.want, "%d", jsonInt(tc.id), 1)); string(b) != want {
			t.Errorf("alert %d:\n got %s\nwant %s", tc.id, b, want)
		}
	}
	a, _ := sqalread.AlertByID(ctx, db, id2)
	pb, _ := json.Marshal(a.Payload())
	if want := `{"id":"` + jsonInt(id2) + `","severity":"critical","title":"grade_reject","message":"Échantillon REJETÉ","source":"D1","timestamp":"2026-11-27T08:00:00.000000+00:00","acknowledged":true}`; string(pb) != want {
		t.Errorf("payload:\n got %s\nwant %s", pb, want)
	}
	if _, err := sqalread.AlertByID(ctx, db, 999999); !errors.Is(err, sqalread.ErrNoAlert) {
		t.Errorf("unknown alert: %v", err)
	}

	// A device stored before the default-name trigger (NULL name, status, created_at).
	if _, err := db.Exec(ctx, `ALTER TABLE sqal_devices DISABLE TRIGGER USER;
		INSERT INTO sqal_devices (device_id, device_name, status, created_at, last_seen)
		VALUES ('ESP32_X', NULL, NULL, NULL, '2026-11-27T08:00:00Z');
		ALTER TABLE sqal_devices ENABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	d, err := sqalread.DeviceByID(ctx, db, "ESP32_X")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d)
	if want := `{"device_id":"ESP32_X","device_name":"ESP32_X","firmware_version":null,"site_code":null,"status":"active","config_profile":null,"created_at":"2026-11-27T08:00:00.000000+00:00","last_seen":"2026-11-27T08:00:00.000000+00:00"}`; string(b) != want {
		t.Errorf("device:\n got %s\nwant %s", b, want)
	}
	if _, err := sqalread.DeviceByID(ctx, db, "nope"); !errors.Is(err, sqalread.ErrNoDevice) {
		t.Errorf("unknown device: %v", err)
	}
}

func TestGeneration(t *testing.T) {
	ctx := context.Background()
	rdb := testenv.Redis(t)
	g0, err := sqalread.Generation(ctx, rdb)
	if err != nil || g0 != "0" {
		t.Fatalf("initial generation %q, %v", g0, err)
	}
	if err := sqalread.BumpGeneration(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	if g1, _ := sqalread.Generation(ctx, rdb); g1 == g0 {
		t.Fatalf("generation did not change: %q", g1)
	}
}

func jsonInt(i int64) string { b, _ := json.Marshal(i); return string(b) }

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSampleJSONMatchesEncodingJSON: the hand-written encoder gives what encoding/json
// gives for the same struct (the reference is the same fields without MarshalJSON).
func TestSampleJSONMatchesEncodingJSON(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	s := func(v string) *string { return &v }
	i := func(v int64) *int64 { return &v }
	tr := true
	created := httpapi.Timestamp(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.FixedZone("x", 3600)))
	for _, d := range []sqalread.SampleDict{
		{},
		{Time: created, SampleID: "S<&>\"é\u2028", DeviceID: "D", LotID: i(-3),
			VL53L8CHDistanceMatrix: json.RawMessage(`[[1, 2], [3, 4]]`), VL53L8CHVolumeMM3: f(1e21),
			VL53L8CHAvgHeightMM: f(1e-7), VL53L8CHMaxHeightMM: f(-0.000001), VL53L8CHGrade: s("A+"),
			AS7341Channels: json.RawMessage(`{"NIR": 800}`), AS7341Gain: i(8), FusionFinalScore: 0.1 + 0.2,
			FusionFinalGrade: "REJECT", FusionIsCompliant: &tr, MetaConfigProfile: s("p"), CreatedAt: &created,
			PoidsFoieEstimeG: f(982.1)},
	} {
		got, err := json.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		type plain sqalread.SampleDict // same fields, no MarshalJSON
		want, err := json.Marshal((*plain)(&d))
		if err != nil {
			t.Fatal(err)
		}
		if compact(t, string(got)) != string(want) {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
		if !json.Valid(got) {
			t.Errorf("invalid JSON %s", got)
		}
	}
}

func FuzzSampleJSON(f *testing.F) {
	f.Add("S1", "A", 0.5, int64(3), "x")
	f.Fuzz(func(t *testing.T, id, grade string, score float64, lot int64, profile string) {
		d := sqalread.SampleDict{SampleID: id, FusionFinalGrade: grade, FusionFinalScore: score, LotID: &lot, MetaConfigProfile: &profile}
		b, err := json.Marshal(&d)
		if err != nil || !json.Valid(b) {
			t.Fatalf("invalid JSON for %+v: %s %v", d, b, err)
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		var want string
		q, _ := json.Marshal(id) // invalid UTF-8 turns into U+FFFD, as encoding/json does
		_ = json.Unmarshal(q, &want)
		if back["sample_id"] != want {
			t.Fatalf("sample_id %q -> %q", id, back["sample_id"])
		}
	})
}

// AppendSamples must produce the same bytes as marshalling each sample.
func TestAppendSamples(t *testing.T) {
	f := 0.5
	list := []*sqalread.SampleDict{{SampleID: "a", PoidsFoieEstimeG: &f}, {SampleID: "b"}}
	want, _ := json.Marshal(list)
	if got := sqalread.AppendSamples(nil, list); string(got) != string(want) {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	if got := sqalread.AppendSamples(nil, nil); string(got) != "[]" {
		t.Fatalf("empty list: %s", got)
	}
}
