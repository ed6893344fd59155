package sqalapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/sqalread"
)

// TestSeededEndpoints checks every field of every GET response on the seeded data.
// How the expected values follow from the seed (now = 11-27 10:30):
//
//   - health: newest sample S5 is 60 s old -> ok; active devices = 3 seeded + D-LL.
//   - devices: by name, D-LL listed under its id (NULL name), D-MT "Station MT".
//   - device D-LL: 24 h = S1, S2, S6 (S7 is 1 s too old); stats_24h avg = 2.125/3.
//   - samples: default 24 h, newest first, limit 2 -> S5, S1.
//   - hourly (7 d): 11-26 10h of D-LL holds S6 + S7 (avg 0.6875, volume only S6's).
//   - sites (30 d): D-X has no device row and is excluded: 6 samples, 3.5/6, 5/6 compliant.
//   - grade distribution (7 d): S5 A+, S1 A, S6 A, S2 B, S7 B, S3 REJECT.
//   - alerts (24 h): alerts 1 and 2 (3 is 25.5 h old); 2 has no message -> its title.
//   - overview: 24 h = S5, S1, S2, S6 (3.0/4 = 0.75); today = 3; 7 d = 6; all = 7;
//     W = 7 samples: 6/7 compliant, 1/7 C, 1/7 REJECT; cadence (last 60 min) = S5, S1;
//     latest S5: scores 0.5/0.5, thickness 52, L* 59, ΔE 9 (> 8: color alert), no
//     channels (spectral blocks unknown); T = [52, 50] (< 10 values: capability unknown).
//   - lot 10: S1 + S2 (0.6875 -> 0.688); lots-aggregated: ties of grades -> "A".
//   - /api/lots/11/qualite: S6 (1000 g) and S3 (800 g) have a weight, S7 not:
//     sample std of (1000, 800) = 141.4; lot 12 exists without samples.
func TestSeededEndpoints(t *testing.T) {
	ta := newTestAPI(t, false)
	ta.seed()
	for url, want := range seededBodies {
		t.Run(url, func(t *testing.T) {
			ta.t = t
			ta.expect("GET", url, "", http.StatusOK, want)
		})
	}
}

func TestQueryParameters(t *testing.T) {
	ta := newTestAPI(t, false)
	ta.seed()
	ids := func(body, listKey, idKey string) string {
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		var list []any
		if listKey == "" {
			list, _ = v.([]any)
		} else {
			list, _ = v.(map[string]any)[listKey].([]any)
		}
		var out []string
		for _, it := range list {
			out = append(out, it.(map[string]any)[idKey].(string))
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		url, list, id, want string
	}{
		{"/api/sqal/devices?site_code=LL", "devices", "device_id", "ESP32-FOIEGRAS-LL-001,D-LL"},
		{"/api/sqal/devices?status=inactive", "devices", "device_id", "D-MT"},
		{"/api/sqal/devices?site_code=LS&status=inactive", "devices", "device_id", ""},
		{"/api/sqal/samples?limit=1", "samples", "sample_id", "S5"},
		{"/api/sqal/samples?limit=1000", "samples", "sample_id", "S5,S1,S2,S6"},
		{"/api/sqal/samples?start_time=2026-11-01&end_time=2026-11-27T10:30:00Z", "samples", "sample_id", "S5,S1,S2,S6,S7,S3,S4"},
		// Inclusive bounds (BETWEEN) on both ends.
		{"/api/sqal/samples?start_time=2026-11-26T10:29:59Z&end_time=2026-11-26T10:30:00%2B00:00", "samples", "sample_id", "S6,S7"},
		// A naive time is UTC; a numeric offset is honoured.
		{"/api/sqal/samples?start_time=2026-11-26T12:29:59%2B02:00&end_time=2026-11-26T10:29:59", "samples", "sample_id", "S7"},
		{"/api/sqal/samples?device_id=D-MT&start_time=2026-11-01", "samples", "sample_id", "S3,S4"},
		// start after end: empty, not an error.
		{"/api/sqal/samples?start_time=2026-11-27T10:00:00Z&end_time=2026-11-27T09:00:00Z", "samples", "sample_id", ""},
		{"/api/sqal/stats/hourly?device_id=D-MT&start_time=2026-11-01", "stats", "device_id", "D-MT,D-MT"},
		{"/api/sqal/alerts?start_time=2026-11-20", "", "alert_type", "quality_critical,oxidation_high,grade_reject"},
		{"/api/sqal/alerts?start_time=2026-11-20&severity=critical", "", "alert_type", "quality_critical,grade_reject"},
		{"/api/sqal/alerts?start_time=2026-11-20&is_acknowledged=yes", "", "alert_type", "oxidation_high"},
		{"/api/sqal/alerts?start_time=2026-11-20&is_acknowledged=0&limit=1", "", "alert_type", "quality_critical"},
		{"/api/sqal/alerts?active=true", "", "alert_type", "quality_critical,oxidation_high"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			ta.t = t
			if got := ids(ta.expect("GET", tc.url, "", http.StatusOK, ""), tc.list, tc.id); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	ta.t = t
	ta.expect("GET", "/api/sqal/stats/grade-distribution?site_code=MT&start_time=2026-11-01", "", http.StatusOK,
		`{"distribution":{"A+":0,"A":0,"B":0,"C":1,"REJECT":1},"total":2,"percentages":{"A+":0,"A":0,"B":0,"C":50,"REJECT":50},
		  "period":{"start":"2026-11-01T00:00:00.000000+00:00","end":"2026-11-27T10:30:00.000000+00:00"}}`)
	ta.expect("GET", "/api/sqal/stats/sites?site_code=LL&start_time=2026-11-27T00:00:00Z&end_time=2026-11-27T09:00:00Z", "", http.StatusOK,
		`{"period_start":"2026-11-27T00:00:00.000000+00:00","period_end":"2026-11-27T09:00:00.000000+00:00","total_samples":1,
		  "avg_quality_score":0.625,"compliance_rate_pct":100,"grade_distribution":{"A+":0,"A":0,"B":1,"C":0,"REJECT":0},
		  "top_devices":[{"device_id":"D-LL","total_samples":1,"avg_quality_score":0.625}]}`)
	ta.expect("GET", "/api/sqal/stats/sites?site_code=LS", "", http.StatusOK,
		`{"period_start":"2026-10-28T10:30:00.000000+00:00","period_end":"2026-11-27T10:30:00.000000+00:00","total_samples":0,
		  "avg_quality_score":0,"compliance_rate_pct":0,"grade_distribution":{"A+":0,"A":0,"B":0,"C":0,"REJECT":0},"top_devices":[]}`)
	ta.expect("GET", "/api/sqal/samples/latest?device_id=D-MT", "", http.StatusOK, "")
}

func TestErrors(t *testing.T) {
	ta := newTestAPI(t, false)
	ta.seed()
	for _, tc := range []struct {
		method, url, body string
		status            int
		want              string
	}{
		{"GET", "/api/sqal/nope", "", 404, `{"detail":"Not Found"}`},
		{"DELETE", "/api/sqal/devices", "", 405, `{"detail":"Method Not Allowed"}`},
		{"GET", "/api/sqal/devices/nope", "", 404, `{"detail":"Device nope introuvable"}`},
		{"GET", "/api/sqal/samples/latest?device_id=nope", "", 404, `{"detail":"Aucun échantillon trouvé"}`},
		{"GET", "/api/sqal/samples?limit=0", "", 422, `{"detail":[{"type":"greater_than_equal","loc":["query","limit"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}]}`},
		{"GET", "/api/sqal/samples?limit=1001", "", 422, `{"detail":[{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 1000","input":"1001","ctx":{"le":1000}}]}`},
		{"GET", "/api/sqal/samples?limit=ten", "", 422, `{"detail":[{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"ten"}]}`},
		{"GET", "/api/sqal/alerts?limit=501&is_acknowledged=maybe", "", 422, `{"detail":[
			{"type":"bool_parsing","loc":["query","is_acknowledged"],"msg":"Input should be a valid boolean, unable to interpret input","input":"maybe"},
			{"type":"less_than_equal","loc":["query","limit"],"msg":"Input should be less than or equal to 500","input":"501","ctx":{"le":500}}]}`},
		{"POST", "/api/sqal/alerts/abc/acknowledge?acknowledged_by=op", "", 422, `{"detail":[{"type":"int_parsing","loc":["path","alert_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}`},
		{"POST", "/api/sqal/alerts/1/acknowledge", "", 422, `{"detail":[{"type":"missing","loc":["query","acknowledged_by"],"msg":"Field required","input":null}]}`},
		{"POST", "/api/sqal/alerts/999/acknowledge?acknowledged_by=op", "", 404, `{"detail":"Alerte 999 introuvable"}`},
		{"POST", "/api/sqal/predict", "", 422, `{"detail":[{"type":"missing","loc":["query","sample_id"],"msg":"Field required","input":null}]}`},
		{"POST", "/api/sqal/predict?sample_id=nope", "", 404, `{"detail":"Sample not found: nope"}`},
		{"GET", "/api/sqal/integration/lot/x", "", 422, `{"detail":[{"type":"int_parsing","loc":["path","lot_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"x"}]}`},
		{"GET", "/api/sqal/integration/lot/99", "", 404, `{"detail":"Aucune donnée qualité pour lot 99"}`},
		{"GET", "/api/lots/99/qualite", "", 404, `{"detail":"Lot 99 non trouvé"}`},
		{"GET", "/api/lots/x/qualite", "", 422, `{"detail":[{"type":"int_parsing","loc":["path","lot_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"x"}]}`},
		{"POST", "/api/sqal/alerts", "", 422, `{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}`},
		{"POST", "/api/sqal/alerts", `{"device_id":"D","sample_id":"S","alert_type":"t","severity":"high","message":""}`, 422, `{"detail":[
			{"type":"enum","loc":["body","severity"],"msg":"Input should be 'info', 'warning' or 'critical'","input":"high","ctx":{"expected":"'info', 'warning' or 'critical'"}},
			{"type":"string_too_short","loc":["body","message"],"msg":"String should have at least 1 character","input":"","ctx":{"min_length":1}}]}`},
		{"POST", "/api/sqal/alerts", `{"sample_id":"S","alert_type":"t","severity":"info","message":"` + strings.Repeat("é", 501) + `"}`, 422, `{"detail":[
			{"type":"missing","loc":["body","device_id"],"msg":"Field required","input":null},
			{"type":"string_too_long","loc":["body","message"],"msg":"String should have at most 500 characters","input":"` + strings.Repeat("é", 501) + `","ctx":{"max_length":500}}]}`},
		{"POST", "/api/sqal/alerts", `{"device_id":1,"sample_id":"S","alert_type":"t","severity":"info","message":"m","data_context":[1]}`, 422, `{"detail":[
			{"type":"string_type","loc":["body","device_id"],"msg":"Input should be a valid string","input":1},
			{"type":"dict_type","loc":["body","data_context"],"msg":"Input should be a valid dictionary","input":[1]}]}`},
		{"POST", "/api/sqal/alerts", `{"device_id":`, 422, ""},
	} {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			ta.t = t
			ta.expect(tc.method, tc.url, tc.body, tc.status, tc.want)
		})
	}
	ta.t = t
	// 405 carries Allow; trailing slash is a 307 to the declared path, query kept.
	if code, _, h := ta.do("PUT", "/api/sqal/alerts", ""); code != 405 || !strings.Contains(h.Get("Allow"), "POST") || !strings.Contains(h.Get("Allow"), "GET") {
		t.Fatalf("PUT alerts: %d Allow=%q", code, h.Get("Allow"))
	}
	for _, tc := range []struct{ method, url, loc string }{
		{"GET", "/api/sqal/devices/?site_code=LL", "/api/sqal/devices?site_code=LL"},
		{"GET", "/api/sqal/dashboard/overview/", "/api/sqal/dashboard/overview"},
		{"POST", "/api/sqal/alerts/", "/api/sqal/alerts"},
		{"GET", "/api/lots/3/qualite/", "/api/lots/3/qualite"},
	} {
		if code, _, h := ta.do(tc.method, tc.url, ""); code != http.StatusTemporaryRedirect || h.Get("Location") != tc.loc {
			t.Errorf("%s %s: %d Location %q, want 307 %q", tc.method, tc.url, code, h.Get("Location"), tc.loc)
		}
	}
}

func TestAlertWrites(t *testing.T) {
	ta := newTestAPI(t, false)
	ta.seed()
	ta.expect("POST", "/api/sqal/alerts", `{"device_id":"UNKNOWN-DEV","sample_id":"S9","alert_type":"manual","severity":"info",
		"message":"Contrôle visuel","data_context":{"operator":"op","n":2},"extra":"ignored"}`, 200, `{"alert_id":4}`)
	// The same (sample, type) again: the schema keeps one, its id is returned.
	ta.expect("POST", "/api/sqal/alerts", `{"device_id":"UNKNOWN-DEV","sample_id":"S9","alert_type":"manual","severity":"warning","message":"x"}`, 200, `{"alert_id":4}`)
	ta.expect("POST", "/api/sqal/alerts", `{"device_id":"D-LL","sample_id":"S1","alert_type":"manual","severity":"critical","message":"m","data_context":null}`, 200, `{"alert_id":6}`) // the conflicting insert used 5
	ta.expect("GET", "/api/sqal/alerts?severity=info", "", 200, `[{"time":"2026-11-27T10:30:00.000000+00:00","alert_id":4,"device_id":"UNKNOWN-DEV",
		"sample_id":"S9","alert_type":"manual","severity":"info","message":"Contrôle visuel","data_context":{"operator":"op","n":2},
		"is_acknowledged":false,"acknowledged_at":null,"acknowledged_by":null}]`)
	var title string
	if err := ta.db.QueryRow(context.Background(), `SELECT title FROM sqal_alerts WHERE alert_id = 4`).Scan(&title); err != nil || title != "manual" {
		t.Fatalf("title %q, %v", title, err)
	}
	// Each new alert is announced through the outbox (realtime broadcasts it); the
	// repeated (sample, type) is not announced twice.
	var events []string
	rows, err := ta.db.Query(context.Background(), `SELECT event_id || ' ' || type FROM event_outbox WHERE source = '/sqal/alerts' ORDER BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		_ = rows.Scan(&e)
		events = append(events, e)
	}
	if got := strings.Join(events, ","); got != "S1:manual sqal.alert.raised,S9:manual sqal.alert.raised" {
		t.Fatalf("outbox events: %s", got)
	}
	ta.expect("POST", "/api/sqal/alerts/1/acknowledge?acknowledged_by=operateur", "", 200,
		`{"success":true,"alert_id":1,"acknowledged_by":"operateur","acknowledged_at":"2026-11-27T10:30:00.000000+00:00"}`)
	ta.expect("GET", "/api/sqal/alerts?is_acknowledged=true", "", 200, `[
		{"time":"2026-11-27T09:30:00.000000+00:00","alert_id":1,"device_id":"D-LL","sample_id":"S1","alert_type":"quality_critical","severity":"critical",
		 "message":"Score qualité critique: 0.25 (seuil: 0.40)","data_context":{"fusion_score":0.25},"is_acknowledged":true,
		 "acknowledged_at":"2026-11-27T10:30:00.000000+00:00","acknowledged_by":"operateur"},
		{"time":"2026-11-27T08:30:00.000000+00:00","alert_id":2,"device_id":"D-MT","sample_id":"S3","alert_type":"oxidation_high","severity":"warning",
		 "message":"oxidation_high","data_context":null,"is_acknowledged":true,"acknowledged_at":"2026-11-27T09:00:00.000000+00:00","acknowledged_by":"op"}]`)
}

func TestPredict(t *testing.T) {
	ta := newTestAPI(t, false)
	ta.seed()
	check := func(model, version string) {
		t.Helper()
		body := ta.expect("POST", "/api/sqal/predict?sample_id=S1", "", 200, "")
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		id, _ := got["prediction_id"].(string)
		delete(got, "prediction_id")
		want := `{"sample_id":"S1","device_id":"D-LL","model_name":"` + model + `","model_version":"` + version + `","score":0.75,"grade":"A",
			"predicted_at":"2026-11-27T10:30:00.000000+00:00",
			"explanations":{"source":"sensor_samples","fields":{"fusion_final_score":0.75,"fusion_final_grade":"A"}}}`
		b, _ := json.Marshal(got)
		if !jsonEqual(t, string(b), want) {
			t.Fatalf("predict:\n got %s\nwant %s", b, want)
		}
		var stored string
		if err := ta.db.QueryRow(context.Background(), `SELECT model_name || '/' || model_version || '/' || grade || '/' || score
			FROM predictions WHERE id = $1`, id).Scan(&stored); err != nil || stored != model+"/"+version+"/A/0.75" {
			t.Fatalf("stored prediction %q, %v", stored, err)
		}
	}
	// Migrations may register models; the fallback applies when none is active.
	ta.exec(`UPDATE ai_models SET status = 'archived'`) // is_active is derived from status
	check("sqal-mvp", "0.1")
	ta.exec(`INSERT INTO ai_models (name, version, status, created_at) VALUES
		('old', '1', 'active', '2026-01-01T00:00:00Z'), ('newest', '2', 'active', '2026-02-01T00:00:00Z'), ('inactive', '3', 'candidate', '2026-03-01T00:00:00Z')`)
	check("newest", "2")
	check("newest", "2") // again: the same stored prediction (one per sample and model version)
	var n int
	if err := ta.db.QueryRow(context.Background(), `SELECT count(*) FROM predictions WHERE sample_id = 'S1'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("one row per (sample, model version): %d, %v", n, err)
	}
}

func TestHealthStatus(t *testing.T) {
	ta := newTestAPI(t, false)
	ta.expect("GET", "/api/sqal/health", "", 200, `{"status":"error","timestamp":"2026-11-27T10:30:00.000000+00:00","active_devices":3,"last_sample_age_seconds":null,"database_connected":true}`)
	for _, tc := range []struct {
		age  time.Duration
		want string
	}{{301 * time.Second, "degraded"}, {3601 * time.Second, "error"}, {300 * time.Second, "ok"}} {
		ta.exec(`DELETE FROM sensor_samples`)
		ta.exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade) VALUES ($1, 'D', 'S', 0.5, 'C')`, now.Add(-tc.age))
		body := ta.expect("GET", "/api/sqal/health", "", 200, "")
		if !strings.Contains(body, `"status":"`+tc.want+`"`) || !strings.Contains(body, `"last_sample_age_seconds":`+jsonNum(tc.age.Seconds())) {
			t.Errorf("age %s: %s", tc.age, body)
		}
	}
	// Database down: still 200, with the contract's error body; other reads answer 500.
	ta.db.Close()
	ta.expect("GET", "/api/sqal/health", "", 200, `{"status":"error","timestamp":"2026-11-27T10:30:00.000000+00:00","active_devices":0,"last_sample_age_seconds":null,"database_connected":false}`)
	for _, u := range []string{"/api/sqal/devices", "/api/sqal/samples", "/api/sqal/dashboard/overview", "/api/sqal/stats/grade-distribution", "/api/sqal/alerts"} {
		code, body, _ := ta.do("GET", u, "")
		if code != 500 || !strings.HasPrefix(body, `{"detail":"`) {
			t.Errorf("%s with the database down: %d %s", u, code, body)
		}
	}
}

func jsonNum(f float64) string { b, _ := json.Marshal(f); return string(b) }

// TestCacheInvalidation: aggregates are served from Redis until the generation is
// bumped (what ingest does after storing a sample), then recomputed.
func TestCacheInvalidation(t *testing.T) {
	ta := newTestAPI(t, true)
	ta.seed()
	total := func() float64 {
		t.Helper()
		var v map[string]any
		if err := json.Unmarshal([]byte(ta.expect("GET", "/api/sqal/dashboard/overview", "", 200, "")), &v); err != nil {
			t.Fatal(err)
		}
		return v["totalSamples"].(float64)
	}
	grades := func() string {
		t.Helper()
		return ta.expect("GET", "/api/sqal/stats/grade-distribution", "", 200, "")
	}
	if got := total(); got != 7 {
		t.Fatalf("totalSamples %v", got)
	}
	g0 := grades()
	ta.exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade) VALUES ($1, 'D-LL', 'S8', 0.5, 'C')`, now.Add(-time.Minute))
	if got := total(); got != 7 {
		t.Fatalf("cached overview should still say 7, got %v", got)
	}
	if grades() != g0 {
		t.Fatal("cached grade distribution changed without a bump")
	}
	if err := sqalread.BumpGeneration(context.Background(), ta.rdb); err != nil {
		t.Fatal(err)
	}
	if got := total(); got != 8 {
		t.Fatalf("after the bump totalSamples = %v, want 8", got)
	}
	if g := grades(); !strings.Contains(g, `"C":1`) || g == g0 {
		t.Fatalf("grade distribution not refreshed: %s", g)
	}
	// A write of this API bumps the generation itself.
	ta.expect("POST", "/api/sqal/alerts/1/acknowledge?acknowledged_by=op", "", 200, "")
	var v map[string]any
	_ = json.Unmarshal([]byte(ta.expect("GET", "/api/sqal/dashboard/overview", "", 200, "")), &v)
	if v["active_alerts"].(float64) != 0 {
		t.Fatalf("active_alerts after acknowledging: %v", v["active_alerts"])
	}
	// Redis down: same answers, from PostgreSQL.
	if err := ta.rdb.Close(); err != nil {
		t.Fatal(err)
	}
	ta.exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade) VALUES ($1, 'D-LL', 'S9', 0.5, 'C')`, now.Add(-time.Minute))
	if got := total(); got != 9 {
		t.Fatalf("with Redis down totalSamples = %v, want 9", got)
	}
}
