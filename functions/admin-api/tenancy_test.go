package adminapi

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/auth"
)

const (
	orgA = auth.DefaultOrganizationID
	orgB = "0b000000-0000-4000-8000-00000000000b"
)

// seedOrgB stores, as the owner, organisation B with a device, its samples, a
// credential, a calibration and a user; A (the default organisation) gets a device.
// It returns the ids of B's credential, calibration and user.
func seedOrgB(t *testing.T, ta *testAPI) (keyB, calB, userB string) {
	t.Helper()
	ctx := context.Background()
	ta.exec(`INSERT INTO organizations (id, name, type) VALUES ($1, 'Org B', 'enterprise')`, orgB)
	ta.exec(`INSERT INTO sqal_devices (device_id, device_name, organization_id, last_seen) VALUES
		('DEV_A', 'Station A', $1, $3), ('DEV_B', 'Station B', $2, $3)`, orgA, orgB, now)
	ta.exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade, organization_id)
		VALUES ($1, 'DEV_A', 'S-A', 0.9, 'A', $2), ($1, 'DEV_B', 'S-B1', 0.9, 'A', $3), ($1, 'DEV_B', 'S-B2', 0.9, 'A', $3)`, now, orgA, orgB)
	for _, q := range []struct {
		sql string
		dst *string
	}{
		{`INSERT INTO ingest_device_keys (key_hash, device_id, note, organization_id) VALUES (sha256('kb'), 'DEV_B', 'key of B', $1) RETURNING id::text`, &keyB},
		{`INSERT INTO device_calibrations (device_id, sensor_type, organization_id) VALUES ('DEV_B', 'tof', $1) RETURNING id::text`, &calB},
		{`INSERT INTO users (username, email, organization_id) VALUES ('bob', 'bob@b', $1) RETURNING id::text`, &userB},
	} {
		if err := ta.db.QueryRow(ctx, q.sql, orgB).Scan(q.dst); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	return keyB, calB, userB
}

// snapshotB is B's rows of every table admin-api writes, as the owner sees them.
func snapshotB(t *testing.T, ta *testAPI) string {
	t.Helper()
	var out []string
	for _, table := range []string{"organizations", "sqal_devices", "ingest_device_keys", "device_calibrations", "users"} {
		col := "organization_id"
		if table == "organizations" {
			col = "id"
		}
		var n int
		var sum string
		if err := ta.db.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*), md5(COALESCE(string_agg(x::text, '|' ORDER BY x::text), ''))
			FROM %s x WHERE %s = $1`, table, col), orgB).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s:%d:%s", table, n, sum))
	}
	return strings.Join(out, " ")
}

func orgOf(t *testing.T, ta *testAPI, sql string, args ...any) string {
	t.Helper()
	var org string
	if err := ta.db.QueryRow(context.Background(), sql, args...).Scan(&org); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return org
}

// TestTenantIsolationAdmin: through the auth middleware in enforce mode and the
// application role, an administrator of organisation A (org_admin, token organisation
// A) sees none of B's devices, credentials, calibrations, users, audit rows or
// organisation, and every change aimed at B is refused and leaves B's rows as they were;
// what A creates lands in A; B's own administrator sees B's data; the super_admin sees
// and creates in both.
func TestTenantIsolationAdmin(t *testing.T) {
	ta := newTestAPI(t, auth.ModeEnforce)
	keyB, calB, userB := seedOrgB(t, ta)
	asA, asB := "superviseur@"+orgA, "superviseur@"+orgB

	// B's administrator sees B's data (so the assertions below can fail) and makes B's
	// chain of audit rows.
	if d := ta.want(asB, "GET", "/api/admin/devices/DEV_B", "", 200); d["totalMeasurements"] != 2.0 || d["organizationId"] != orgB {
		t.Fatalf("B's device in B's scope: %v", d)
	}
	ta.want(asB, "PATCH", "/api/admin/devices/DEV_B", `{"notes": "vu par B"}`, 200)
	if m := ta.want(asB, "GET", "/api/admin/users/", "", 200); m["total"] != 1.0 {
		t.Fatalf("B's users in B's scope: %v", m)
	}
	if m := ta.want(asB, "GET", "/api/admin/audit/", "", 200); m["total"] != 1.0 {
		t.Fatalf("B's audit rows in B's scope: %v", m)
	}
	before := snapshotB(t, ta)

	// Lists: none of B's rows.
	for _, tc := range []struct{ path, leak string }{
		{"/api/admin/devices/", "DEV_B"},
		{"/api/admin/calibration/", "DEV_B"},
		{"/api/admin/calibration/?device_id=DEV_B", "DEV_B"},
		{"/api/admin/users/?limit=500", "bob"},
		{"/api/users/?limit=500", "bob"},
		{"/api/admin/audit/?limit=500", "DEV_B"},
		{"/api/organizations/", orgB},
	} {
		code, _, raw := ta.call(asA, "GET", tc.path, "")
		if code != 200 || strings.Contains(string(raw), tc.leak) || strings.Contains(string(raw), orgB) {
			t.Errorf("GET %s in A's scope: %d, leaks B: %s", tc.path, code, raw)
		}
	}
	if m := ta.want(asA, "GET", "/api/admin/devices/", "", 200); m["total"] != 4.0 { // DEV_A and the 3 demo devices
		t.Errorf("A's devices: %v", m)
	}
	// Details: B's ids are not found.
	for _, path := range []string{
		"/api/admin/devices/DEV_B",
		"/api/admin/devices/DEV_B/keys/",
		"/api/admin/users/" + userB,
		"/api/users/" + userB,
		"/api/organizations/" + orgB,
	} {
		ta.want(asA, "GET", path, "", 404)
	}
	// The audit chain A verifies is A's own.
	if v := ta.want(asA, "GET", "/api/admin/audit/verify", "", 200); v["valid"] != true || len(v["chains"].([]any)) != 1 ||
		v["chains"].([]any)[0].(map[string]any)["organizationId"] != orgA {
		t.Errorf("A's verification: %v", v)
	}

	// Mutations aimed at B: refused, B unchanged.
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"PATCH", "/api/admin/devices/DEV_B", `{"name": "pris"}`, 404},
		{"DELETE", "/api/admin/devices/DEV_B", "", 404},
		{"POST", "/api/admin/devices/DEV_B/keys/", `{"rotate": true}`, 404},
		{"DELETE", "/api/admin/devices/DEV_B/keys/" + keyB, "", 404},
		{"DELETE", "/api/admin/devices/DEV_A/keys/" + keyB, "", 404},
		{"POST", "/api/admin/calibration/start/", `{"device_id": "DEV_B", "sensor_type": "tof"}`, 404},
		{"PATCH", "/api/admin/users/" + userB, `{"isActive": false}`, 404},
		{"DELETE", "/api/admin/users/" + userB, "", 404},
		{"PATCH", "/api/organizations/" + orgB, `{"description": "pris"}`, 404},
		{"DELETE", "/api/organizations/" + orgB, "", 403},
		{"POST", "/api/organizations/", `{"name": "Org C"}`, 403},
		// Creating in, or moving to, B from A's scope.
		{"POST", "/api/admin/users/", `{"username": "mallory", "organization_id": "` + orgB + `"}`, 403},
		{"PATCH", "/api/admin/users/" + userIDOf(t, ta, "analyste"), `{"organizationId": "` + orgB + `"}`, 403},
		{"PATCH", "/api/admin/devices/DEV_A", `{"organization_id": "` + orgB + `"}`, 403},
		{"POST", "/api/admin/devices/DEV_NEW/keys/", `{"organization_id": "` + orgB + `"}`, 403},
	} {
		code, _, raw := ta.call(asA, tc.method, tc.path, tc.body)
		if code != tc.status {
			t.Errorf("%s %s in A's scope: %d, want %d: %s", tc.method, tc.path, code, tc.status, raw)
		}
	}
	if after := snapshotB(t, ta); after != before {
		t.Errorf("B's rows changed by A:\nbefore %s\nafter  %s", before, after)
	}
	if org := orgOf(t, ta, `SELECT organization_id::text FROM sqal_devices WHERE device_id = 'DEV_A'`); org != orgA {
		t.Errorf("DEV_A moved to %s", org)
	}

	// What A creates lands in A.
	u := ta.want(asA, "POST", "/api/admin/users/", `{"username": "alice"}`, 201)
	if org := orgOf(t, ta, `SELECT organization_id::text FROM users WHERE id = $1`, u["id"]); org != orgA {
		t.Errorf("A's new user in %s", org)
	}
	k := ta.want(asA, "POST", "/api/admin/devices/DEV_NEW/keys/", `{}`, 201)
	if org := orgOf(t, ta, `SELECT organization_id::text FROM ingest_device_keys WHERE id = $1`, k["id"]); org != orgA {
		t.Errorf("A's new key in %s", org)
	}
	if org := orgOf(t, ta, `SELECT organization_id::text FROM sqal_devices WHERE device_id = 'DEV_NEW'`); org != orgA {
		t.Errorf("A's provisioned device in %s", org)
	}
	c := ta.want(asA, "POST", "/api/admin/calibration/start/", `{"device_id": "DEV_A", "sensor_type": "as7341"}`, 201)
	if org := orgOf(t, ta, `SELECT organization_id::text FROM device_calibrations WHERE id = $1`, c["id"]); org != orgA {
		t.Errorf("A's calibration in %s", org)
	}
	// B's calibration list is B's.
	code, _, raw := ta.call(asB, "GET", "/api/admin/calibration/", "")
	if code != 200 || !strings.Contains(string(raw), calB) || strings.Contains(string(raw), c["id"].(string)) {
		t.Errorf("B's calibrations: %d %s", code, raw)
	}

	// The super_admin (all organisations) sees both and says where it creates.
	if m := ta.want("admin", "GET", "/api/admin/devices/", "", 200); m["total"] != 6.0 {
		t.Errorf("devices of every organisation: %v", m)
	}
	u = ta.want("admin", "POST", "/api/admin/users/", `{"username": "carol", "organization_id": "`+orgB+`"}`, 201)
	if org := orgOf(t, ta, `SELECT organization_id::text FROM users WHERE id = $1`, u["id"]); org != orgB {
		t.Errorf("super_admin's user for B in %s", org)
	}
	u = ta.want("admin", "POST", "/api/admin/users/", `{"username": "dave"}`, 201)
	if org := orgOf(t, ta, `SELECT organization_id::text FROM users WHERE id = $1`, u["id"]); org != orgA {
		t.Errorf("super_admin's user without organisation in %s, want the default one", org)
	}
	ta.want("admin", "POST", "/api/admin/users/", `{"username": "erin", "organization_id": "0c000000-0000-4000-8000-00000000000c"}`, 404)
	k = ta.want("admin", "POST", "/api/admin/devices/DEV_B/keys/", `{}`, 201)
	if org := orgOf(t, ta, `SELECT organization_id::text FROM ingest_device_keys WHERE id = $1`, k["id"]); org != orgB {
		t.Errorf("super_admin's key for B's device in %s", org)
	}
	ta.want("admin", "POST", "/api/admin/devices/DEV_B/keys/", `{"organization_id": "`+orgA+`"}`, 409)
	ta.want("admin", "PATCH", "/api/admin/devices/DEV_NEW", `{"organization_id": "`+orgB+`"}`, 200)
	if org := orgOf(t, ta, `SELECT organization_id::text FROM ingest_device_keys WHERE device_id = 'DEV_NEW'`); org != orgB {
		t.Errorf("moved device's key in %s", org)
	}
	ta.want(asB, "GET", "/api/admin/devices/DEV_NEW", "", 200)
	ta.want(asA, "GET", "/api/admin/devices/DEV_NEW", "", 404)
	// Every organisation's audit chain verifies in the super_admin's scope.
	v := ta.want("admin", "GET", "/api/admin/audit/verify", "", 200)
	if v["valid"] != true || len(v["chains"].([]any)) != 2 {
		t.Errorf("super_admin's verification: %v", v)
	}
}

func userIDOf(t *testing.T, ta *testAPI, username string) string {
	t.Helper()
	return orgOf(t, ta, `SELECT id::text FROM users WHERE username = $1`, username)
}
