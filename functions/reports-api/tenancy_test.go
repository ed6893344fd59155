package reportsapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/tenant"
)

const (
	orgA = tenant.DefaultOrganization
	orgB = "0b000000-0000-4000-8000-00000000000b"
)

// tenantFixture is organisation B's data, seeded by the owner.
type tenantFixture struct {
	report, schedule, rule, ota, firmware string
}

func seedTenants(t *testing.T, e *testEnv) tenantFixture {
	t.Helper()
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := e.db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	scan := func(dst *string, sql string, args ...any) {
		t.Helper()
		if err := e.db.QueryRow(ctx, sql, args...).Scan(dst); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO organizations (id, name, type) VALUES ($1, 'Org B', 'enterprise')`, orgB)
	exec(`INSERT INTO sqal_devices (device_id, organization_id) VALUES ('DEV_A', $1), ('DEV_B', $2)`, orgA, orgB)
	for i, org := range []string{orgA, orgB, orgB} {
		dev, id := "DEV_A", fmt.Sprintf("S-A-%d", i)
		if org == orgB {
			dev, id = "DEV_B", fmt.Sprintf("S-B-%d", i)
		}
		exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade, organization_id)
			VALUES ($1, $2, $3, 0.9, 'A', $4)`, t0.Add(-time.Hour), dev, id, org)
	}
	var f tenantFixture
	// Firmware versions are shared; the campaign is B's.
	f.firmware = e.serve(multipartUpload(t, "/api/firmware/versions", map[string]string{"version": "9.9.9"}, []byte("image"))).object(t)["id"].(string)
	scan(&f.report, `INSERT INTO reports (title, report_type, format, status, file_name, organization_id)
		VALUES ('Rapport B', 'quality', 'csv', 'completed', 'b.csv', $1) RETURNING id::text`, orgB)
	exec(`INSERT INTO report_files (report_id, content, organization_id) VALUES ($1, 'S-B secret', $2)`, f.report, orgB)
	scan(&f.schedule, `INSERT INTO scheduled_reports (name, frequency, report_config, next_run, organization_id)
		VALUES ('Planning B', 'daily', '{"format": "csv"}', $1, $2) RETURNING id::text`, t0.Add(-time.Minute), orgB)
	scan(&f.rule, `INSERT INTO alert_rules (name, condition, organization_id) VALUES ('Règle B', 'quality_score < 0.5', $1)
		RETURNING id::text`, orgB)
	scan(&f.ota, `INSERT INTO ota_updates (name, firmware_version_id, target_devices, total_devices, organization_id)
		VALUES ('OTA B', $1, '["DEV_B"]', 1, $2) RETURNING id::text`, f.firmware, orgB)
	exec(`INSERT INTO ota_update_logs (ota_update_id, device_id, target_version, organization_id) VALUES ($1, 'DEV_B', '9.9.9', $2)`, f.ota, orgB)
	return f
}

// snapshotB is B's rows of every table reports-api writes, as the owner sees them.
func snapshotB(t *testing.T, e *testEnv) string {
	t.Helper()
	var out []string
	for _, table := range []string{"reports", "report_files", "scheduled_reports", "alert_rules", "ota_updates", "ota_update_logs"} {
		var n int
		var sum string
		if err := e.db.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*), md5(COALESCE(string_agg(x::text, '|' ORDER BY x::text), ''))
			FROM %s x WHERE organization_id = $1`, table), orgB).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s:%d:%s", table, n, sum))
	}
	return strings.Join(out, " ")
}

func (e *testEnv) orgOf(t *testing.T, table, id string) string {
	t.Helper()
	var org string
	if err := e.db.QueryRow(context.Background(), `SELECT organization_id::text FROM `+table+` WHERE id = $1`, id).Scan(&org); err != nil {
		t.Fatalf("organisation of %s %s: %v", table, id, err)
	}
	return org
}

// fileOf is the stored file of a report (owner's view).
func (e *testEnv) fileOf(t *testing.T, report string) (content, org string) {
	t.Helper()
	if err := e.db.QueryRow(context.Background(), `SELECT convert_from(content, 'UTF8'), organization_id::text FROM report_files
		WHERE report_id = $1`, report).Scan(&content, &org); err != nil {
		t.Fatalf("file of report %s: %v", report, err)
	}
	return content, org
}

// TestTenantIsolationReports: with the application role and organisation A's scope,
// no list or detail shows B's reports, files, schedules, OTA campaigns or alert rules;
// every change aimed at them is refused and leaves B's rows as they were; A's reports
// land in A and read A's samples only; B's scheduled report (no request: the scheduler)
// is made in B from B's samples; the super_admin creates where it says.
func TestTenantIsolationReports(t *testing.T) {
	e := newEnv(t, testConfig)
	f := seedTenants(t, e)

	// B's scope sees B's data (so the assertions below can fail).
	e.scope = tenant.Org(orgB)
	for _, path := range []string{"/api/reports/" + f.report, "/api/reports/scheduled/" + f.schedule,
		"/api/alerts/rules/" + f.rule, "/api/firmware/ota/" + f.ota, "/api/reports/" + f.report + "/download"} {
		e.must(t, "GET", path, "", 200)
	}
	before := snapshotB(t, e)

	e.scope = tenant.Org(orgA)
	for _, path := range []string{"/api/reports", "/api/reports/scheduled", "/api/alerts/rules", "/api/firmware/ota"} {
		res := e.must(t, "GET", path, "", 200)
		for _, id := range []string{f.report, f.schedule, f.rule, f.ota, "Planning B", "Règle B", "OTA B", "Rapport B"} {
			if strings.Contains(string(res.Body), id) {
				t.Errorf("GET %s in A's scope shows B's %s: %s", path, id, res.Body)
			}
		}
	}
	for _, tc := range []struct{ path, what string }{
		{"/api/reports/" + f.report, "Report"},
		{"/api/reports/" + f.report + "/download", "Report"},
		{"/api/reports/scheduled/" + f.schedule, "Scheduled report"},
		{"/api/alerts/rules/" + f.rule, "Rule"},
		{"/api/firmware/ota/" + f.ota, "OTA update"},
	} {
		wantDetail(t, e.do(t, "GET", tc.path, ""), 404, tc.what+" not found")
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"DELETE", "/api/reports/" + f.report, "", 404},
		{"PATCH", "/api/reports/scheduled/" + f.schedule, `{"enabled": false}`, 404},
		{"DELETE", "/api/reports/scheduled/" + f.schedule, "", 404},
		{"PUT", "/api/alerts/rules/" + f.rule, `{"enabled": false}`, 404},
		{"DELETE", "/api/alerts/rules/" + f.rule, "", 404},
		{"POST", "/api/firmware/ota/" + f.ota + "/cancel", "", 404},
		// Creating in B, or aiming at B's device, from A's scope.
		{"POST", "/api/firmware/ota", `{"name": "x", "firmware_version_id": "` + f.firmware + `", "target_devices": ["DEV_B"]}`, 404},
		{"POST", "/api/reports", `{"report_type": "quality", "organization_id": "` + orgB + `"}`, 403},
		{"POST", "/api/reports/scheduled", `{"name": "x", "frequency": "daily", "organizationId": "` + orgB + `"}`, 403},
		{"POST", "/api/alerts/rules", `{"name": "x", "condition": "quality_score < 0.1", "organization_id": "` + orgB + `"}`, 403},
		{"POST", "/api/firmware/ota", `{"name": "x", "firmware_version_id": "` + f.firmware + `", "organization_id": "` + orgB + `"}`, 403},
	} {
		if res := e.do(t, tc.method, tc.path, tc.body); res.Code != tc.status {
			t.Errorf("%s %s in A's scope: %d, want %d: %s", tc.method, tc.path, res.Code, tc.status, res.Body)
		}
	}
	if after := snapshotB(t, e); after != before {
		t.Errorf("B's rows changed by A:\nbefore %s\nafter  %s", before, after)
	}

	// A's report: in A, from A's samples only.
	rp := e.must(t, "POST", "/api/reports", `{"report_type": "quality", "format": "csv"}`, http.StatusCreated).object(t)
	e.srv.jobs.wait()
	if org := e.orgOf(t, "reports", rp["id"].(string)); org != orgA {
		t.Errorf("A's report in %s", org)
	}
	if content, org := e.fileOf(t, rp["id"].(string)); org != orgA || !strings.Contains(content, "S-A-0") || strings.Contains(content, "S-B") {
		t.Errorf("A's report file (organisation %s):\n%s", org, content)
	}
	for _, tc := range []struct{ path, body, table string }{
		{"/api/reports/scheduled", `{"name": "Planning A", "frequency": "weekly"}`, "scheduled_reports"},
		{"/api/alerts/rules", `{"name": "Règle A", "condition": "quality_score < 0.2"}`, "alert_rules"},
		{"/api/firmware/ota", `{"name": "OTA A", "firmware_version_id": "` + f.firmware + `", "target_devices": ["DEV_A"]}`, "ota_updates"},
	} {
		res := e.must(t, "POST", tc.path, tc.body, http.StatusCreated).object(t)
		id, _ := res["id"].(string)
		if id == "" { // alert rules answer {"rule": {...}}
			id = res["rule"].(map[string]any)["id"].(string)
		}
		if org := e.orgOf(t, tc.table, id); org != orgA {
			t.Errorf("A's %s in %s", tc.table, org)
		}
	}
	var logs int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM ota_update_logs WHERE device_id = 'DEV_A' AND organization_id = $1`, orgA).Scan(&logs); err != nil || logs != 1 {
		t.Errorf("A's OTA logs in A: %d, %v", logs, err)
	}
	// The audit rows of A's changes are in A's chain.
	var stray int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE organization_id IS DISTINCT FROM $1`, orgA).Scan(&stray); err != nil || stray != 0 {
		t.Errorf("audit rows outside A: %d, %v", stray, err)
	}

	// B's schedule runs without a request: its report is B's, from B's samples.
	if n, err := e.srv.jobs.runDue(context.Background()); err != nil || n != 1 {
		t.Fatalf("due schedules: %d, %v", n, err)
	}
	e.srv.jobs.wait()
	var scheduled string
	if err := e.db.QueryRow(context.Background(), `SELECT id::text FROM reports WHERE created_by = 'scheduler'`).Scan(&scheduled); err != nil {
		t.Fatal(err)
	}
	if content, org := e.fileOf(t, scheduled); org != orgB || e.orgOf(t, "reports", scheduled) != orgB ||
		!strings.Contains(content, "S-B-1") || !strings.Contains(content, "S-B-2") || strings.Contains(content, "S-A") {
		t.Errorf("B's scheduled report file (organisation %s):\n%s", org, content)
	}
	wantDetail(t, e.do(t, "GET", "/api/reports/"+scheduled, ""), 404, "Report not found")

	// The super_admin names the organisation (else the default one).
	e.scope = tenant.All()
	rp = e.must(t, "POST", "/api/reports", `{"report_type": "quality", "format": "csv", "organization_id": "`+orgB+`"}`, http.StatusCreated).object(t)
	e.srv.jobs.wait()
	if content, org := e.fileOf(t, rp["id"].(string)); org != orgB || !strings.Contains(content, "S-B-1") || strings.Contains(content, "S-A") {
		t.Errorf("super_admin's report for B (organisation %s):\n%s", org, content)
	}
	rp = e.must(t, "POST", "/api/alerts/rules", `{"name": "Règle défaut", "condition": "quality_score < 0.3"}`, http.StatusCreated).object(t)
	if org := e.orgOf(t, "alert_rules", rp["rule"].(map[string]any)["id"].(string)); org != orgA {
		t.Errorf("super_admin's rule without organisation in %s, want the default one", org)
	}
	wantDetail(t, e.do(t, "POST", "/api/reports", `{"report_type": "q", "organization_id": "0c000000-0000-4000-8000-00000000000c"}`),
		404, "Organization not found")
	want422(t, e.do(t, "POST", "/api/reports", `{"report_type": "q", "organization_id": "B"}`), "uuid_parsing", "body", "organization_id")
	if res := e.must(t, "GET", "/api/reports", "", 200).object(t); res["total"] != float64(4) {
		t.Errorf("reports of every organisation: %v", res["total"])
	}
}
