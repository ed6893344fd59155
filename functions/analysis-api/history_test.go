package analysisapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

const itemS1 = `{"id":"` + uuid1 + `","time":"2026-11-27T09:50:00.000000+00:00","deviceId":"ESP32_LL_01","sampleId":"S1",
 "grade":"A+","qualityScore":0.9,"numDefects":2,"vl53l8chScore":0.88,"as7341Score":0.91,"vl53l8chGrade":"A+",
 "as7341Grade":"A","defects":[{"type":"bile"}],"lotAbattage":"LOT-1",
 "vl53l8ch":{"volume_mm3":1000.5,"avg_height_mm":50.25,"surface_uniformity":0.8},
 "as7341":{"channels":` + channels1 + `,"freshness_index":0.7,"color_score":null}}`

const itemS2 = `{"id":"` + uuid2 + `","time":"2026-11-27T09:40:00.000000+00:00","deviceId":"ESP32_LL_01","sampleId":"S2",
 "grade":"A","qualityScore":0.8,"numDefects":3,"vl53l8chScore":0.7,"as7341Score":null,"vl53l8chGrade":null,
 "as7341Grade":null,"defects":[{"a":1},{"b":2},{"c":3}],"lotAbattage":"CL-2","vl53l8ch":null,"as7341":null}`

// bare is the item of a sample stored with only the NOT NULL columns.
func bare(id, ts, device, sampleID, grade string, score float64) string {
	return fmt.Sprintf(`{"id":%q,"time":%q,"deviceId":%q,"sampleId":%q,"grade":%q,"qualityScore":%v,"numDefects":0,
 "vl53l8chScore":null,"as7341Score":null,"vl53l8chGrade":null,"as7341Grade":null,"defects":[],"lotAbattage":null,
 "vl53l8ch":null,"as7341":null}`, id, ts, device, sampleID, grade, score)
}

var (
	itemS3 = bare(uuid3, "2026-11-27T08:00:00.000000+00:00", "ESP32_MT_01", "S3", "B", 0.65)
	itemS4 = bare(uuid4, "2026-11-26T08:00:00.000000+00:00", "ESP32_MT_01", "S4", "C", 0.5)
	itemS5 = bare(uuid5, "2026-11-24T10:00:00.000000+00:00", "ESP32_LL_01", "S5", "REJECT", 0.3)
	itemS6 = bare(uuid6, "2026-10-18T10:00:00.000000+00:00", "ESP32_LL_01", "S6", "B", 0.7)
)

func list(items ...string) string { return "[" + strings.Join(items, ",") + "]" }

func TestHistory(t *testing.T) {
	e := newEnv(t, false)
	seedSamples(t, e.db)

	pag := func(total, pages, current, size int, prev, next bool) string {
		return fmt.Sprintf(`{"totalItems":%d,"totalPages":%d,"currentPage":%d,"pageSize":%d,"hasPrevious":%t,"hasNext":%t}`,
			total, pages, current, size, prev, next)
	}
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{"everything, newest first", "", `{"analyses":` + list(itemS1, itemS2, itemS3, itemS4, itemS5, itemS6) + `,"pagination":` + pag(6, 1, 1, 50, false, false) + `}`},
		{"analysis page limit", "?limit=10", `{"analyses":` + list(itemS1, itemS2, itemS3, itemS4, itemS5, itemS6) + `,"pagination":` + pag(6, 1, 1, 10, false, false) + `}`},
		{"first page", "?page=1&page_size=2", `{"analyses":` + list(itemS1, itemS2) + `,"pagination":` + pag(6, 3, 1, 2, false, true) + `}`},
		{"middle page", "?page=2&page_size=2", `{"analyses":` + list(itemS3, itemS4) + `,"pagination":` + pag(6, 3, 2, 2, true, true) + `}`},
		{"last page", "?page=3&page_size=2", `{"analyses":` + list(itemS5, itemS6) + `,"pagination":` + pag(6, 3, 3, 2, true, false) + `}`},
		{"past the end", "?page=5&page_size=2", `{"analyses":[],"pagination":` + pag(6, 3, 5, 2, true, false) + `}`},
		{"partial last page", "?page=2&page_size=4", `{"analyses":` + list(itemS5, itemS6) + `,"pagination":` + pag(6, 2, 2, 4, true, false) + `}`},
		{"skip and limit", "?skip=1&limit=2", `{"analyses":` + list(itemS2, itemS3) + `,"pagination":` + pag(6, 3, 1, 2, true, true) + `}`},
		{"page wins over skip", "?page=2&page_size=2&skip=5&limit=1", `{"analyses":` + list(itemS3, itemS4) + `,"pagination":` + pag(6, 3, 2, 2, true, true) + `}`},
		{"page with limit as size", "?page=2&limit=3", `{"analyses":` + list(itemS4, itemS5, itemS6) + `,"pagination":` + pag(6, 2, 2, 3, true, false) + `}`},
		{"size clamped up", "?limit=0", `{"analyses":` + list(itemS1) + `,"pagination":` + pag(6, 6, 1, 1, false, true) + `}`},
		{"size clamped down", "?page_size=100000", `{"analyses":` + list(itemS1, itemS2, itemS3, itemS4, itemS5, itemS6) + `,"pagination":` + pag(6, 1, 1, 500, false, false) + `}`},
		{"grade encoded plus", "?grade=A%2B", `{"analyses":` + list(itemS1) + `,"pagination":` + pag(1, 1, 1, 50, false, false) + `}`},
		{"grade raw plus", "?grade=A+", `{"analyses":` + list(itemS1) + `,"pagination":` + pag(1, 1, 1, 50, false, false) + `}`},
		{"grade A is not A+", "?grade=A", `{"analyses":` + list(itemS2) + `,"pagination":` + pag(1, 1, 1, 50, false, false) + `}`},
		{"grade filter counts the filtered set", "?grade=B&page_size=1", `{"analyses":` + list(itemS3) + `,"pagination":` + pag(2, 2, 1, 1, false, true) + `}`},
		{"grade label", "?grade=reject", `{"analyses":` + list(itemS5) + `,"pagination":` + pag(1, 1, 1, 50, false, false) + `}`},
		{"unknown grade", "?grade=UNKNOWN", `{"analyses":[],"pagination":` + pag(0, 1, 1, 50, false, false) + `}`},
		{"device", "?device_id=ESP32_MT_01", `{"analyses":` + list(itemS3, itemS4) + `,"pagination":` + pag(2, 1, 1, 50, false, false) + `}`},
		{"period", "?start_date=2026-11-26T08:00:00Z&end_date=2026-11-27T08:00:00%2B00:00", `{"analyses":` + list(itemS3, itemS4) + `,"pagination":` + pag(2, 1, 1, 50, false, false) + `}`},
		{"bare end date is the whole day", "?start_date=2026-11-24&end_date=2026-11-26", `{"analyses":` + list(itemS4, itemS5) + `,"pagination":` + pag(2, 1, 1, 50, false, false) + `}`},
		{"filters combine", "?device_id=ESP32_LL_01&grade=B&start_date=2026-01-01", `{"analyses":` + list(itemS6) + `,"pagination":` + pag(1, 1, 1, 50, false, false) + `}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/analysis/history/", "/api/analysis/history"} {
				got := e.get(t, path+tc.query, http.StatusOK)
				assertJSON(t, path+tc.query, got, tc.want)
			}
		})
	}
}

func TestHistoryValidation(t *testing.T) {
	e := newEnv(t, false)
	tests := []struct {
		query string
		want  string
	}{
		{"?page=0", `{"detail":[{"type":"greater_than_equal","loc":["query","page"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}]}`},
		{"?page=abc", `{"detail":[{"type":"int_parsing","loc":["query","page"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}`},
		{"?skip=-1", `{"detail":[{"type":"greater_than_equal","loc":["query","skip"],"msg":"Input should be greater than or equal to 0","input":"-1","ctx":{"ge":0}}]}`},
		{"?limit=ten&page_size=1.5", `{"detail":[
			{"type":"int_parsing","loc":["query","page_size"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"1.5"},
			{"type":"int_parsing","loc":["query","limit"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"ten"}]}`},
		{"?end_date=2026-13-01", `{"detail":[{"type":"datetime_from_date_parsing","loc":["query","end_date"],"msg":"Input should be a valid datetime or date, month value is outside expected range of 1-12","input":"2026-13-01","ctx":{"error":"month value is outside expected range of 1-12"}}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			got := e.get(t, "/api/analysis/history/"+tc.query, http.StatusUnprocessableEntity)
			assertJSON(t, tc.query, got, tc.want)
		})
	}
}

func TestAnalysisDetail(t *testing.T) {
	e := newEnv(t, false)
	seedSamples(t, e.db)
	// A sample whose sample_id looks like a uuid is still found by it.
	insert(t, e.db, "sensor_samples", row{"timestamp": t0, "device_id": "D", "sample_id": "11111111-2222-4333-8444-555555555555",
		"fusion_final_grade": "B", "fusion_final_score": 0.6})

	s1 := `{"id":"` + uuid1 + `","time":"2026-11-27T09:50:00.000000+00:00","deviceId":"ESP32_LL_01","sampleId":"S1",
	 "grade":"A+","qualityScore":0.9,"numDefects":2,"lotAbattage":"LOT-1",
	 "vl53l8ch":{"distance_matrix":` + distance1() + `,"volume_mm3":1000.5,"avg_height_mm":50.25,"surface_uniformity":0.8,"quality_score":0.88,"grade":"A+"},
	 "as7341":{"channels":` + channels1 + `,"color_score":null,"freshness_score":0.7,"quality_score":0.91,"grade":"A"},
	 "fusion":{"final_score":0.9,"final_grade":"A+","confidence":0.95,"defects":[{"type":"bile"}]}}`
	s3 := `{"id":"` + uuid3 + `","time":"2026-11-27T08:00:00.000000+00:00","deviceId":"ESP32_MT_01","sampleId":"S3",
	 "grade":"B","qualityScore":0.65,"numDefects":0,"lotAbattage":null,
	 "vl53l8ch":{"distance_matrix":null,"volume_mm3":null,"avg_height_mm":null,"surface_uniformity":null,"quality_score":null,"grade":null},
	 "as7341":{"channels":null,"color_score":null,"freshness_score":null,"quality_score":null,"grade":null},
	 "fusion":{"final_score":0.65,"final_grade":"B","confidence":null,"defects":[]}}`
	for _, tc := range []struct{ path, want string }{
		{"/api/analysis/history/" + uuid1, s1},
		{"/api/analysis/history/" + strings.ToUpper(uuid1) + "/", s1},
		{"/api/analysis/history/S1/", s1},
		{"/api/analysis/history/S3", s3},
	} {
		assertJSON(t, tc.path, e.get(t, tc.path, http.StatusOK), tc.want)
	}
	got := e.get(t, "/api/analysis/history/11111111-2222-4333-8444-555555555555", http.StatusOK).(map[string]any)
	if got["sampleId"] != "11111111-2222-4333-8444-555555555555" {
		t.Errorf("uuid-shaped sample_id: got %v", got["sampleId"])
	}
	for _, path := range []string{
		"/api/analysis/history/nope",
		"/api/analysis/history/00000000-0000-4000-8000-00000000000f",
		"/api/analysis/history/00000000-zzzz-4000-8000-000000000001",
	} {
		assertJSON(t, path, e.get(t, path, http.StatusNotFound), `{"detail":"Analysis not found","message":"Analysis not found"}`)
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t, false)
	for _, tc := range []struct {
		method, path string
		status       int
		want         string
	}{
		{http.MethodGet, "/api/analysis/nothing", http.StatusNotFound, `{"detail":"Not Found"}`},
		{http.MethodPost, "/api/analysis/history", http.StatusMethodNotAllowed, `{"detail":"Method Not Allowed"}`},
		{http.MethodDelete, "/api/sensors/devices/X", http.StatusMethodNotAllowed, `{"detail":"Method Not Allowed"}`},
	} {
		code, body := e.do(t, tc.method, tc.path, "")
		if code != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, code, tc.status)
		}
		var v any
		_ = json.Unmarshal(body, &v)
		assertJSON(t, tc.method+" "+tc.path, normalizeNumbers(v), tc.want)
	}
}

// TestDatabaseFailure: a database error is a 500 in the legacy shape, never an empty
// 200 (the legacy back end swallowed them).
func TestDatabaseFailure(t *testing.T) {
	e := newEnv(t, false)
	e.db.Close()
	for _, path := range []string{"/api/analysis/history/", "/api/analysis/stats/", "/api/sensors/devices/", "/api/dashboard/metrics/",
		"/api/dashboard/foie-gras-metrics/", "/api/analysis/history/S1", "/api/export/samples?format=json"} {
		assertJSON(t, path, e.get(t, path, http.StatusInternalServerError),
			`{"detail":"Internal Server Error","message":"Internal Server Error"}`)
	}
}
