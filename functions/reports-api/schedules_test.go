package reportsapi

import (
	"net/http"
	"testing"
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
