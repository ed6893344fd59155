package reportsapi

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rfc3339Z is the outbound date format (§0.3).
var rfc3339Z = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

// dashboardBody is exactly what ReportsPage posts (R2): snake_case, ISO dates.
func dashboardBody(format string) string {
	return fmt.Sprintf(`{"report_type":"quality","title":"Rapport quality","format":%q,"start_date":%q,"end_date":%q}`,
		format, t0.Add(-7*24*time.Hour).Format("2006-01-02T15:04:05.000Z"), t0.Format("2006-01-02T15:04:05.000Z"))
}

func TestReportsPageFlow(t *testing.T) {
	e := newEnv(t, testConfig)
	seedSamples(t, e.db, t0.Add(-time.Hour), 12)
	seedSamples(t, e.db, t0.Add(-30*24*time.Hour), 1) // outside the period

	// R1 on an empty table: the page reads total and reports.
	if got := string(e.must(t, "GET", "/api/reports/?limit=20", "", 200).Body); got != `{"reports":[],"total":0}` {
		t.Errorf("empty list = %s", got)
	}
	created := e.must(t, "POST", "/api/reports/", dashboardBody("csv"), http.StatusCreated).object(t)
	if created["status"] != "pending" || created["format"] != "csv" || created["message"] != "Report generation started" {
		t.Errorf("created = %v", created)
	}
	e.srv.jobs.wait()

	list := e.must(t, "GET", "/api/reports/?limit=20", "", 200).object(t)
	if list["total"] != float64(1) {
		t.Fatalf("total = %v", list["total"])
	}
	rp := list["reports"].([]any)[0].(map[string]any)
	// Every field the page dereferences (R1), with its type.
	for key, check := range map[string]func(any) bool{
		"id":         func(v any) bool { s, ok := v.(string); return ok && s != "" },
		"title":      func(v any) bool { return v == "Rapport quality" },
		"reportType": func(v any) bool { return v == "quality" },
		"format":     func(v any) bool { return v == "csv" },
		"status":     func(v any) bool { return v == "completed" },
		"createdAt":  func(v any) bool { s, _ := v.(string); return rfc3339Z.MatchString(s) },
		"completedAt": func(v any) bool {
			s, _ := v.(string)
			return rfc3339Z.MatchString(s)
		},
		"fileUrl":  func(v any) bool { return v == "/api/reports/"+rp["id"].(string)+"/download/" },
		"fileSize": func(v any) bool { f, _ := v.(float64); return f > 0 },
		"rowCount": func(v any) bool { return v == float64(12) },
	} {
		if !check(rp[key]) {
			t.Errorf("reports[0].%s = %#v", key, rp[key])
		}
	}
	if params := rp["parameters"].(map[string]any); params["start_date"] == nil || params["end_date"] == nil {
		t.Errorf("dates not kept in parameters: %v", params)
	}

	// The file: CSV of the 12 samples of the period, oldest first.
	res := e.must(t, "GET", "/api/reports/"+rp["id"].(string)+"/download/", "", 200)
	cd := res.Header.Get("Content-Disposition")
	if !strings.HasPrefix(cd, `attachment; filename="sqal_report_quality_20261127_`) || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition = %q", cd)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	recs, err := csv.NewReader(bytes.NewReader(res.Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 13 || recs[0][0] != "timestamp" || recs[0][4] != "grade" {
		t.Fatalf("CSV has %d records, header %v", len(recs), recs[0])
	}
	if recs[1][0] != t0.Add(-time.Hour-11*time.Minute).Format("2006-01-02T15:04:05.000000Z") || recs[12][4] != "A+" {
		t.Errorf("first row %v, last row %v", recs[1], recs[12])
	}
	if recs[1][3] != "'=LOT" {
		t.Errorf("formula not defused: %q", recs[1][3])
	}
	if got := auditCount(t, e.db, "create", "report"); got != 1 {
		t.Errorf("audit rows = %d", got)
	}

	// Detail, delete, then a real 404.
	id := rp["id"].(string)
	if d := e.must(t, "GET", "/api/reports/"+id, "", 200).object(t); d["id"] != id || d["errorMessage"] != nil {
		t.Errorf("detail = %v", d)
	}
	e.must(t, "DELETE", "/api/reports/"+id+"/", "", 200)
	wantDetail(t, e.do(t, "GET", "/api/reports/"+id, ""), 404, "Report not found")
	wantDetail(t, e.do(t, "GET", "/api/reports/"+id+"/download/", ""), 404, "Report not found")
	wantDetail(t, e.do(t, "DELETE", "/api/reports/"+id, ""), 404, "Report not found")
	wantDetail(t, e.do(t, "GET", "/api/reports/not-a-uuid", ""), 404, "Report not found")
	if got := auditCount(t, e.db, "delete", "report"); got != 1 {
		t.Errorf("delete audit rows = %d", got)
	}
}

func TestReportFormats(t *testing.T) {
	e := newEnv(t, testConfig)
	seedSamples(t, e.db, t0.Add(-time.Hour), 7)
	tests := []struct {
		format, ext, contentType string
		check                    func(t *testing.T, b []byte)
	}{
		{"json", ".json", "application/json", func(t *testing.T, b []byte) {
			var doc struct {
				Report  map[string]any   `json:"report"`
				Summary map[string]any   `json:"summary"`
				Samples []map[string]any `json:"samples"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Summary["totalSamples"] != float64(7) || len(doc.Samples) != 7 || doc.Report["reportType"] != "quality" {
				t.Errorf("summary %v, %d samples, report %v", doc.Summary, len(doc.Samples), doc.Report)
			}
			grades := doc.Summary["gradeDistribution"].(map[string]any)
			if grades["A+"] != float64(2) || grades["REJECT"] != float64(1) {
				t.Errorf("grade distribution %v", grades)
			}
			if s := doc.Samples[0]; s["quality_score"] == nil || s["compliant"] == nil || s["volume_mm3"] != 1000.5 {
				t.Errorf("sample %v", s)
			}
		}},
		{"excel", ".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", func(t *testing.T, b []byte) {
			zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			var sheet string
			for _, f := range zr.File {
				if f.Name == "xl/worksheets/sheet1.xml" {
					rc, _ := f.Open()
					s, _ := io.ReadAll(rc)
					sheet = string(s)
				}
			}
			if strings.Count(sheet, "<row ") != 8 || !strings.Contains(sheet, `<c r="I2"><v>1000.5</v></c>`) {
				t.Errorf("sheet: %.400s", sheet)
			}
		}},
		{"pdf", ".pdf", "application/pdf", func(t *testing.T, b []byte) {
			if !bytes.HasPrefix(b, []byte("%PDF-1.4")) || !bytes.HasSuffix(b, []byte("%%EOF\n")) ||
				!bytes.Contains(b, []byte("Echantillons analyses : 7")) {
				t.Errorf("pdf: %.300s", b)
			}
			// The xref offsets point at the objects.
			m := regexp.MustCompile(`startxref\n(\d+)`).FindSubmatch(b)
			var off int
			fmt.Sscan(string(m[1]), &off)
			if !bytes.HasPrefix(b[off:], []byte("xref")) {
				t.Errorf("startxref %d does not point at xref", off)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			id := e.must(t, "POST", "/api/reports", dashboardBody(tt.format), 201).object(t)["id"].(string)
			e.srv.jobs.wait()
			rp := e.must(t, "GET", "/api/reports/"+id+"/", "", 200).object(t)
			if rp["status"] != "completed" || !strings.HasSuffix(rp["fileName"].(string), tt.ext) {
				t.Fatalf("report %v", rp)
			}
			res := e.must(t, "GET", "/api/reports/"+id+"/download", "", 200)
			if res.Header.Get("Content-Type") != tt.contentType || res.Header.Get("ETag") != `"`+rp["fileHash"].(string)+`"` {
				t.Errorf("headers %v", res.Header)
			}
			tt.check(t, res.Body)
		})
	}
}

func TestReportFailsAndRecovers(t *testing.T) {
	cfg := testConfig
	cfg.MaxReportRows = 3
	e := newEnv(t, cfg)
	seedSamples(t, e.db, t0.Add(-time.Hour), 5)
	id := e.must(t, "POST", "/api/reports", dashboardBody("csv"), 201).object(t)["id"].(string)
	e.srv.jobs.wait()
	rp := e.must(t, "GET", "/api/reports/"+id, "", 200).object(t)
	if rp["status"] != "failed" || !strings.Contains(rp["errorMessage"].(string), "5 samples") || rp["format"] != "csv" {
		t.Errorf("over the row limit: %v", rp)
	}
	wantDetail(t, e.do(t, "GET", "/api/reports/"+id+"/download/", ""), 409, "Report is not ready (status: failed)")

	// A restart: a job left generating by a dead instance fails, a pending one runs.
	ctx := context.Background()
	var stale, pending string
	if err := e.db.QueryRow(ctx, `INSERT INTO reports (title, report_type, format, status, started_at, start_date, end_date)
		VALUES ('stale', 'quality', 'json', 'generating', $1, $2, $3) RETURNING id::text`,
		t0.Add(-time.Hour), t0.Add(-2*time.Hour), t0).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(ctx, `INSERT INTO reports (title, report_type, format, start_date, end_date)
		VALUES ('pending', 'quality', 'json', $1, $2) RETURNING id::text`, t0.Add(-30*time.Minute), t0).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.jobs.resume(ctx); err != nil {
		t.Fatal(err)
	}
	e.srv.jobs.wait()
	if rp := e.must(t, "GET", "/api/reports/"+stale, "", 200).object(t); rp["status"] != "failed" ||
		!strings.HasPrefix(rp["errorMessage"].(string), "Generation interrupted") {
		t.Errorf("stale job: %v", rp)
	}
	if rp := e.must(t, "GET", "/api/reports/"+pending, "", 200).object(t); rp["status"] != "completed" || rp["rowCount"] != float64(0) {
		t.Errorf("pending job: %v", rp)
	}

	// A job orphaned later is settled by the next list read.
	if _, err := e.db.Exec(ctx, `UPDATE reports SET status = 'generating', started_at = $2, completed_at = NULL WHERE id = $1`,
		pending, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	list := e.must(t, "GET", "/api/reports?status=failed", "", 200).object(t)
	if list["total"] != float64(3) {
		t.Errorf("failed after the list read: %v", list["total"])
	}
}

func TestCreateReportValidation(t *testing.T) {
	e := newEnv(t, testConfig)
	tests := []struct {
		name, body, typ string
		loc             []any
	}{
		{"no body", "", "missing", []any{"body"}},
		{"not an object", `[1]`, "model_attributes_type", []any{"body"}},
		{"no type", `{"format":"csv"}`, "missing", []any{"body", "report_type"}},
		{"null type", `{"report_type":null}`, "missing", []any{"body", "report_type"}},
		{"numeric type", `{"report_type":5}`, "string_type", []any{"body", "report_type"}},
		{"unknown format", `{"report_type":"daily","format":"docx"}`, "enum", []any{"body", "format"}},
		{"bad date", `{"report_type":"daily","start_date":"yesterday"}`, "datetime_from_date_parsing", []any{"body", "start_date"}},
		{"reversed period", `{"report_type":"daily","start_date":"2026-11-20T00:00:00Z","end_date":"2026-11-10T00:00:00Z"}`,
			"value_error", []any{"body", "end_date"}},
		{"NUL character", `{"report_type":"da\u0000ily"}`, "value_error", []any{"body"}},
		{"title too long", `{"report_type":"daily","title":"` + strings.Repeat("x", 301) + `"}`, "string_too_long", []any{"body", "title"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want422(t, e.do(t, "POST", "/api/reports/", tt.body), tt.typ, tt.loc...)
		})
	}
	// The former target's camelCase spelling still works; format defaults to pdf and
	// the title to "Rapport <type>".
	rp := e.must(t, "POST", "/api/reports", `{"reportType":"weekly"}`, 201).object(t)
	if rp["format"] != "pdf" || rp["title"] != "Rapport weekly" || rp["reportType"] != "weekly" {
		t.Errorf("camelCase body: %v", rp)
	}
	e.srv.jobs.wait()
	want422(t, e.do(t, "GET", "/api/reports?limit=abc", ""), "int_parsing", "query", "limit")
}

// TestStoppedRunnerLeavesJobsPending: after SIGTERM no job starts; it stays pending
// for the next instance instead of being cut off half-way.
func TestStoppedRunnerLeavesJobsPending(t *testing.T) {
	e := newEnv(t, testConfig)
	stop, cancel := context.WithCancel(context.Background())
	cancel()
	e.srv.jobs.stop = stop
	id := e.must(t, "POST", "/api/reports", dashboardBody("json"), 201).object(t)["id"].(string)
	e.srv.jobs.wait()
	if rp := e.must(t, "GET", "/api/reports/"+id, "", 200).object(t); rp["status"] != "pending" {
		t.Errorf("status after stop = %v", rp["status"])
	}
}
