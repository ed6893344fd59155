package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/auth"
	"github.com/sqalfn/sqal/shared/localstack"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

// Organisation B of the isolation test; every row it owns carries the marker "ORGB" so a
// leak shows in any response body.
const (
	orgB       = "0b000000-0000-4000-8000-00000000000b"
	orgBDevice = "ORGB-DEV-1"
	orgBSample = "ORGB-S-1"
)

// tenantTables are the tables row-level security isolates (migration 00060).
var tenantTables = []string{"sensor_samples", "sqal_devices", "sqal_alerts", "predictions",
	"ingest_device_keys", "device_calibrations", "sample_labels", "users", "reports", "report_files",
	"scheduled_reports", "alert_rules", "ota_updates", "ota_update_logs", "sqal_sample_hourly",
	"sqal_sample_lot", "audit_log"}

// seedOrgB stores organisation B and one row of each main resource, as the owner.
func seedOrgB(t *testing.T, owner *pgxpool.Pool) map[string]string {
	t.Helper()
	ctx := context.Background()
	ids := map[string]string{}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := owner.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("seed: %v\n%s", err, sql)
		}
	}
	scan := func(dst *string, sql string, args ...any) {
		t.Helper()
		if err := owner.QueryRow(ctx, sql, args...).Scan(dst); err != nil {
			t.Fatalf("seed: %v\n%s", err, sql)
		}
	}
	exec(`INSERT INTO organizations (id, name, type) VALUES ($1, 'ORGB Foie Gras', 'enterprise')`, orgB)
	exec(`INSERT INTO sqal_devices (device_id, device_name, organization_id) VALUES ($1, 'ORGB station', $2)`, orgBDevice, orgB)
	// A sample of each organisation, so organisation A's pages are not empty.
	exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade, fusion_is_compliant, organization_id)
		VALUES (now() - interval '1 minute', $1, $2, 0.91, 'A', true, $3),
		       (now() - interval '2 minutes', 'ORGA-DEV-1', 'ORGA-S-1', 0.55, 'C', true, $4)`,
		orgBDevice, orgBSample, orgB, tenant.DefaultOrganization)
	var v string
	scan(&v, `INSERT INTO sqal_alerts ("time", sample_id, device_id, alert_type, severity, title, message, organization_id)
		VALUES (now(), $1, $2, 'low_quality', 'warning', 'ORGB alert', 'ORGB alert message', $3) RETURNING alert_id::text`, orgBSample, orgBDevice, orgB)
	ids["alert_id"] = v
	exec(`INSERT INTO predictions (sample_id, device_id, model_name, model_version, organization_id)
		VALUES ($1, $2, 'quality', 'v0', $3)`, orgBSample, orgBDevice, orgB)
	scan(&v, `INSERT INTO users (username, email, organization_id) VALUES ('orgb-user', 'orgb@example.org', $1) RETURNING id::text`, orgB)
	ids["user_id"] = v
	scan(&v, `INSERT INTO reports (title, report_type, status, organization_id) VALUES ('ORGB report', 'quality', 'completed', $1) RETURNING id::text`, orgB)
	ids["report_id"] = v
	scan(&v, `INSERT INTO alert_rules (name, condition, organization_id) VALUES ('ORGB rule', 'score < 0.5', $1) RETURNING id::text`, orgB)
	ids["rule_id"] = v
	scan(&v, `INSERT INTO scheduled_reports (name, frequency, organization_id) VALUES ('ORGB schedule', 'daily', $1) RETURNING id::text`, orgB)
	ids["schedule_id"] = v
	exec(`INSERT INTO device_calibrations (device_id, sensor_type, organization_id) VALUES ($1, 'tof', $2)`, orgBDevice, orgB)
	exec(`INSERT INTO ingest_device_keys (key_hash, device_id, organization_id) VALUES (sha256('ORGB key'::bytea), $1, $2)`, orgBDevice, orgB)
	ids["device_id"] = orgBDevice
	ids["analysis_id"] = orgBSample
	ids["sample_id"] = orgBSample
	ids["org_id"] = orgB
	return ids
}

// fingerprint summarises every row organisation B owns, to prove nothing changed it.
func fingerprint(t *testing.T, owner *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, table := range tenantTables {
		var sum string
		q := fmt.Sprintf(`SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), 'none') FROM %s t WHERE organization_id = $1`, table)
		if err := owner.QueryRow(context.Background(), q, orgB).Scan(&sum); err != nil {
			t.Fatalf("fingerprint %s: %v", table, err)
		}
		fmt.Fprintf(&b, "%s=%s;", table, sum)
	}
	var org string
	if err := owner.QueryRow(context.Background(), `SELECT md5(o::text) FROM organizations o WHERE id = $1`, orgB).Scan(&org); err != nil {
		t.Fatalf("fingerprint organizations: %v", err)
	}
	return b.String() + "organizations=" + org
}

// TestTenantIsolationEveryRoute runs the whole local stack in enforce mode, connected
// as the application role, with data of two organisations. A user of the default
// organisation calls every route of every function (auth.Rules lists them all): no
// answer contains organisation B's data, and no call changes it. The same user placed
// in organisation B sees B's sample, so the test can fail.
func TestTenantIsolationEveryRoute(t *testing.T) {
	if testing.Short() {
		t.Skip("starts every function")
	}
	dbURL := testenv.DBURL(t)
	owner, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(owner.Close)
	ids := seedOrgB(t, owner)
	before := fingerprint(t, owner)

	p, err := localstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(p)
	t.Setenv("PORT", port)
	t.Setenv("DATABASE_URL", testenv.AppURL(t, dbURL))
	t.Setenv("REDIS_URL", testenv.RedisURL(t))
	t.Setenv("LOG_LEVEL", "error")
	t.Setenv("AUTH_MODE", "enforce")
	t.Setenv("AUTH_DEV_ISSUER", "true")
	t.Setenv("AUTH_DEV_ISSUER_ALLOW_ENFORCE", "true")
	t.Setenv("EDGE_RATE_LIMIT", "false")
	t.Setenv("SIMULATOR", "false")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- realMain(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("devstack did not stop within 30s")
		}
	})
	base := "http://127.0.0.1:" + port
	waitReady(t, base, done)

	// org_admin + superviseur: nearly every permission, within one organisation.
	tokenA := devToken(t, base, "superviseur", tenant.DefaultOrganization)
	tokenB := devToken(t, base, "superviseur", orgB)

	call := func(token, method, path string) (int, string) {
		t.Helper()
		var body io.Reader
		if method != http.MethodGet && method != http.MethodDelete {
			body = strings.NewReader(`{}`)
		}
		req, _ := http.NewRequest(method, base+path, body)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// The positive control: B's user sees B's sample.
	if code, body := call(tokenB, http.MethodGet, "/api/sqal/samples?limit=10"); code != 200 || !strings.Contains(body, orgBSample) {
		t.Fatalf("organisation B's own samples: %d %s", code, body)
	}
	if code, body := call(tokenA, http.MethodGet, "/api/sqal/samples?limit=10"); code != 200 || !strings.Contains(body, "ORGA-S-1") {
		t.Fatalf("organisation A's own samples: %d %s", code, body)
	}

	tested := 0
	for _, r := range auth.Rules {
		switch r.Permission {
		case auth.Public, auth.Internal, auth.DeviceKey:
			continue // no user scope: device keys and the broker (their own tests)
		}
		if strings.HasPrefix(r.Path, "/ws/") || strings.HasPrefix(r.Path, "/api/dev") {
			continue
		}
		if r.Method == http.MethodPost && !strings.Contains(r.Path, "{") {
			continue // creations land in the caller's organisation (per-function tests)
		}
		path := fillPath(r.Path, ids)
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			code, body := call(tokenA, r.Method, path)
			if code >= 500 {
				t.Fatalf("%s %s: %d %s", r.Method, path, code, clip(body))
			}
			if m := leak(body, path); m != "" {
				t.Fatalf("%s %s answered organisation B's data (%q): %d %s", r.Method, path, m, code, clip(body))
			}
			if r.Method != http.MethodGet && code < 300 && strings.Contains(r.Path, "{") {
				t.Fatalf("%s %s on organisation B's resource: %d %s (want 404 or 403)", r.Method, path, code, clip(body))
			}
			if r.Method != http.MethodGet {
				if after := fingerprint(t, owner); after != before {
					t.Fatalf("%s %s changed organisation B's rows:\nbefore %s\nafter  %s", r.Method, path, before, after)
				}
			}
		})
		tested++
	}
	if tested < 50 {
		t.Fatalf("only %d routes exercised", tested)
	}
	if after := fingerprint(t, owner); after != before {
		t.Fatalf("organisation B's rows changed:\nbefore %s\nafter  %s", before, after)
	}
}

// leak returns the first piece of organisation B's data in body that the request did
// not carry itself (a 404 may echo the id it was asked for).
func leak(body, path string) string {
	for _, m := range []string{"ORGB station", "ORGB alert", "ORGB report", "ORGB rule", "ORGB schedule",
		"ORGB Foie Gras", "orgb-user", "orgb@example.org", orgBSample, orgBDevice, orgB} {
		if strings.Contains(body, m) && !strings.Contains(path, url.PathEscape(m)) {
			return m
		}
	}
	return ""
}

// fillPath puts organisation B's ids into a route pattern; unknown parameters get a
// marker that matches nothing.
func fillPath(pattern string, ids map[string]string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			name := strings.Trim(s, "{}")
			v, ok := ids[name]
			if !ok {
				v = "ORGB-unknown"
			}
			segs[i] = url.PathEscape(v)
		}
	}
	return strings.Join(segs, "/")
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func devToken(t *testing.T, base, user, org string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/dev/token?user=" + user + "&organization_id=" + org)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("dev token for %s in %s: %d %v", user, org, resp.StatusCode, err)
	}
	return tok.AccessToken
}

func waitReady(t *testing.T, base string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("devstack exited early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("devstack not ready within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
