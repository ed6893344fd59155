package reportsapi

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestScheduledReports(t *testing.T) {
	e := newEnv(t, testConfig)
	// Static segments win over {report_id}, with and without the slash (§2.20 #7).
	for _, p := range []string{"/api/reports/scheduled", "/api/reports/scheduled/"} {
		if got := string(e.must(t, "GET", p, "", 200).Body); got != `{"scheduledReports":[],"total":0}` {
			t.Errorf("GET %s = %s", p, got)
		}
	}
	sr := e.must(t, "POST", "/api/reports/scheduled/", `{"name":"Hebdo qualité","report_config":{"report_type":"quality","format":"csv"},
		"frequency":"weekly","recipients":["qa@example.com"]}`, http.StatusCreated).object(t)
	id := sr["id"].(string)
	if sr["enabled"] != true || sr["nextRun"] != "2026-12-04T10:00:00.000000Z" || sr["frequency"] != "weekly" ||
		sr["reportConfig"].(map[string]any)["format"] != "csv" {
		t.Errorf("created %v", sr)
	}
	// The dashboard's toggle sends {enabled}; a disabled schedule has no next run.
	off := e.must(t, "PATCH", "/api/reports/scheduled/"+id+"/", `{"enabled":false}`, 200).object(t)
	if off["enabled"] != false || off["nextRun"] != nil || off["name"] != "Hebdo qualité" {
		t.Errorf("toggled %v", off)
	}
	on := e.must(t, "PATCH", "/api/reports/scheduled/"+id, `{"enabled":true,"frequency":"monthly"}`, 200).object(t)
	if on["nextRun"] != "2026-12-27T10:00:00.000000Z" {
		t.Errorf("re-enabled %v", on)
	}
	if got := e.must(t, "GET", "/api/reports/scheduled/"+id, "", 200).object(t); got["frequency"] != "monthly" {
		t.Errorf("detail %v", got)
	}
	list := e.must(t, "GET", "/api/reports/scheduled?limit=10", "", 200).object(t)
	if list["total"] != float64(1) {
		t.Errorf("list %v", list)
	}
	want422(t, e.do(t, "POST", "/api/reports/scheduled", `{"name":"x"}`), "missing", "body", "frequency")
	want422(t, e.do(t, "POST", "/api/reports/scheduled", `{"name":"x","frequency":"hourly"}`), "enum", "body", "frequency")
	want422(t, e.do(t, "POST", "/api/reports/scheduled", `{"name":"x","frequency":"daily","recipients":["nobody"]}`),
		"value_error", "body", "recipients", 0)
	want422(t, e.do(t, "PATCH", "/api/reports/scheduled/"+id, `{"enabled":"yes"}`), "bool_type", "body", "enabled")
	e.must(t, "DELETE", "/api/reports/scheduled/"+id, "", 200)
	wantDetail(t, e.do(t, "GET", "/api/reports/scheduled/"+id, ""), 404, "Scheduled report not found")
	wantDetail(t, e.do(t, "PATCH", "/api/reports/scheduled/"+id, `{"enabled":true}`), 404, "Scheduled report not found")
	wantDetail(t, e.do(t, "DELETE", "/api/reports/scheduled/download", ""), 404, "Scheduled report not found")
	for action, want := range map[string]int{"create": 1, "update": 2, "delete": 1} {
		if got := auditCount(t, e.db, action, "scheduled_report"); got != want {
			t.Errorf("audit %s rows = %d, want %d", action, got, want)
		}
	}
}

func TestReportTemplates(t *testing.T) {
	e := newEnv(t, testConfig)
	if got := string(e.must(t, "GET", "/api/reports/templates", "", 200).Body); got != `{"templates":[],"total":0}` {
		t.Errorf("empty = %s", got)
	}
	a := e.must(t, "POST", "/api/reports/templates/", `{"name":"Qualité A","report_type":"quality","template_content":{"sections":["summary"]},"is_default":true}`,
		http.StatusCreated).object(t)
	b := e.must(t, "POST", "/api/reports/templates", `{"name":"Qualité B","reportType":"quality","isDefault":true,"description":"d"}`,
		http.StatusCreated).object(t)
	if a["isDefault"] != true || b["isDefault"] != true || b["description"] != "d" {
		t.Errorf("created %v / %v", a, b)
	}
	// One default per report type: creating B cleared A's flag.
	if got := e.must(t, "GET", "/api/reports/templates/"+a["id"].(string), "", 200).object(t); got["isDefault"] != false {
		t.Errorf("A after B %v", got)
	}
	wantDetail(t, e.do(t, "POST", "/api/reports/templates", `{"name":"Qualité A","report_type":"x"}`), 409, "Template name already exists")
	want422(t, e.do(t, "POST", "/api/reports/templates", `{"name":"C"}`), "missing", "body", "report_type")
	want422(t, e.do(t, "POST", "/api/reports/templates", `{"name":"C","report_type":"q","styles":[1]}`), "dict_type", "body", "styles")

	// Inactive templates leave the list unless all=true.
	e.must(t, "PATCH", "/api/reports/templates/"+a["id"].(string)+"/", `{"is_active":false}`, 200)
	if l := e.must(t, "GET", "/api/reports/templates/", "", 200).object(t); l["total"] != float64(1) {
		t.Errorf("active list %v", l)
	}
	if l := e.must(t, "GET", "/api/reports/templates?all=true", "", 200).object(t); l["total"] != float64(2) {
		t.Errorf("all list %v", l)
	}
	wantDetail(t, e.do(t, "PATCH", "/api/reports/templates/"+b["id"].(string), `{"name":"Qualité A"}`), 409, "Template name already exists")
	e.must(t, "DELETE", "/api/reports/templates/"+a["id"].(string), "", 200)
	wantDetail(t, e.do(t, "GET", "/api/reports/templates/"+a["id"].(string), ""), 404, "Template not found")
	wantDetail(t, e.do(t, "GET", "/api/reports/templates/zzz", ""), 404, "Template not found")
}

func TestScheduledReportsRun(t *testing.T) {
	e := newEnv(t, testConfig)
	seedSamples(t, e.db, t0.Add(7*24*time.Hour), 3) // inside the week before the run
	sr := e.must(t, "POST", "/api/reports/scheduled", `{"name":"Hebdo","reportConfig":{"reportType":"quality","format":"json"},
		"frequency":"weekly"}`, 201).object(t)
	off := e.must(t, "POST", "/api/reports/scheduled", `{"name":"Off","frequency":"daily","enabled":false}`, 201).object(t)
	ctx := context.Background()
	if n, err := e.srv.jobs.runDue(ctx); err != nil || n != 0 {
		t.Fatalf("before the next run: %d, %v", n, err)
	}
	e.srv.now = func() time.Time { return t0.Add(8 * 24 * time.Hour) }
	if n, err := e.srv.jobs.runDue(ctx); err != nil || n != 1 {
		t.Fatalf("due run: %d, %v", n, err)
	}
	if n, err := e.srv.jobs.runDue(ctx); err != nil || n != 0 {
		t.Fatalf("second pass: %d, %v", n, err)
	}
	e.srv.jobs.wait()
	list := e.must(t, "GET", "/api/reports", "", 200).object(t)
	rp := list["reports"].([]any)[0].(map[string]any)
	if list["total"] != float64(1) || rp["title"] != "Hebdo" || rp["format"] != "json" || rp["reportType"] != "quality" ||
		rp["status"] != "completed" || rp["rowCount"] != float64(3) || rp["createdBy"] != "scheduler" ||
		rp["parameters"].(map[string]any)["scheduled_report_id"] != sr["id"] {
		t.Errorf("scheduled report %v", rp)
	}
	got := e.must(t, "GET", "/api/reports/scheduled/"+sr["id"].(string), "", 200).object(t)
	if got["lastRun"] != "2026-12-05T10:00:00.000000Z" || got["nextRun"] != "2026-12-12T10:00:00.000000Z" {
		t.Errorf("schedule after its run %v", got)
	}
	if got := e.must(t, "GET", "/api/reports/scheduled/"+off["id"].(string), "", 200).object(t); got["lastRun"] != nil {
		t.Errorf("disabled schedule ran: %v", got)
	}
}

func TestScheduledKind(t *testing.T) {
	tests := []struct{ config, typ, format string }{
		{`{"report_type":"daily","format":"csv"}`, "daily", "csv"},
		{`{"reportType":"weekly","format":"excel"}`, "weekly", "excel"},
		{`{"type":"audit","format":"docx"}`, "audit", "pdf"},
		{`{}`, "scheduled", "pdf"},
		{`not json`, "scheduled", "pdf"},
	}
	for _, tt := range tests {
		if typ, format := scheduledKind([]byte(tt.config)); typ != tt.typ || format != tt.format {
			t.Errorf("scheduledKind(%s) = %s, %s; want %s, %s", tt.config, typ, format, tt.typ, tt.format)
		}
	}
}
