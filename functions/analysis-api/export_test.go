package analysisapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestExport(t *testing.T) {
	e := newEnv(t, false)
	seedSamples(t, e.db)

	req := httptest.NewRequest(http.MethodGet, "/api/export/samples?start_date=2026-11-26&end_date=2026-11-27", nil)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("csv: status %d: %s", rec.Code, rec.Body)
	}
	if ct, cd := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Disposition"); ct != "text/csv; charset=utf-8" ||
		cd != "attachment; filename=sqal_export_20261127_100000.csv" {
		t.Errorf("csv headers: %q %q", ct, cd)
	}
	want := "Sample ID,Timestamp,Device ID,Final Score,Final Grade,Volume (mm³),Height (mm),VL53L8CH Score,AS7341 Score,Freshness Index\n" +
		"S1,2026-11-27T09:50:00.000000+00:00,ESP32_LL_01,0.9,A+,1000.5,50.25,0.87,0.93,0.7\n" +
		"S2,2026-11-27T09:40:00.000000+00:00,ESP32_LL_01,0.8,A,0,0,0.7,0,0\n" +
		"S3,2026-11-27T08:00:00.000000+00:00,ESP32_MT_01,0.65,B,0,0,0,0,0\n" +
		"S4,2026-11-26T08:00:00.000000+00:00,ESP32_MT_01,0.5,C,0,0,0,0,0\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("csv body:\n%s\nwant\n%s", got, want)
	}

	code, body := e.do(t, http.MethodGet, "/api/export/samples/?format=json&device_id=ESP32_LL_01&limit=2", "")
	if code != http.StatusOK {
		t.Fatalf("json: %d %s", code, body)
	}
	assertJSON(t, "json", decode(t, body), `[
	  {"sample_id":"S1","timestamp":"2026-11-27T09:50:00.000000+00:00","device_id":"ESP32_LL_01","final_score":0.9,"final_grade":"A+",
	   "volume_mm3":1000.5,"height_mm":50.25,"vl53l8ch_score":0.87,"as7341_score":0.93,"freshness_index":0.7},
	  {"sample_id":"S2","timestamp":"2026-11-27T09:40:00.000000+00:00","device_id":"ESP32_LL_01","final_score":0.8,"final_grade":"A",
	   "volume_mm3":0,"height_mm":0,"vl53l8ch_score":0.7,"as7341_score":0,"freshness_index":0}]`)

	assertJSON(t, "format", e.get(t, "/api/export/samples?format=xml", http.StatusBadRequest),
		`{"detail":"Unsupported format: xml","message":"Unsupported format: xml"}`)
	// A filter value is data, never SQL.
	assertJSON(t, "injection", e.get(t, "/api/export/samples?format=json&device_id=x'%20OR%20'1'='1", http.StatusOK), `[]`)
}
