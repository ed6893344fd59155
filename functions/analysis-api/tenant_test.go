package analysisapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

// Organisation A is the default organisation, B a second one; every id of B's data
// contains "ORGB".
const (
	orgA = tenant.DefaultOrganization
	orgB = "0b000000-0000-4000-8000-00000000000b"
)

type tenantFixture struct {
	t     *testing.T
	owner *pgxpool.Pool // superuser: seeds and checks, bypassing row-level security
	db    *database.DB  // the application role, under row-level security
}

func newTenantFixture(t *testing.T) *tenantFixture {
	t.Helper()
	app, owner := testenv.AppDB(t)
	f := &tenantFixture{t: t, owner: owner, db: database.NewDB(app)}
	f.exec(`INSERT INTO organizations (id, name, type) VALUES ($1, 'Org B', 'enterprise')`, orgB)
	return f
}

func (f *tenantFixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.owner.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// seed stores one organisation's device, samples (whole hours for the rollup, partial
// ones for the raw reads, C and REJECT grades for the foie-gras alerts) and alerts; ids
// start with prefix ("ORGA" or "ORGB"). B's samples are the newest.
func (f *tenantFixture) seed(org, prefix string, offset time.Duration, firstAlert int) {
	f.t.Helper()
	at := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil {
			f.t.Fatal(err)
		}
		return ts.Add(offset)
	}
	dev := prefix + "-DEV"
	f.exec(`INSERT INTO sqal_devices (device_id, device_name, site_code, status, created_at, last_seen, metadata, organization_id)
 VALUES ($1, $2::text, 'LL', 'active', $3, $4, jsonb_build_object('location', $2::text), $5)`,
		dev, prefix+" Station", at("2026-11-01T00:00:00Z"), at("2026-11-27T09:59:00Z"), org)
	for i, s := range []struct {
		ts, grade string
		score     float64
	}{
		{"2026-11-27T09:50:00Z", "A", 0.75},
		{"2026-11-27T08:30:00Z", "B", 0.625},
		{"2026-11-26T05:10:00Z", "C", 0.5},
		{"2026-11-20T12:00:00Z", "REJECT", 0.25},
	} {
		f.exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, lot_id, fusion_final_grade, fusion_final_score,
 vl53l8ch_quality_score, as7341_quality_score, vl53l8ch_volume_mm3, vl53l8ch_avg_height_mm, as7341_freshness_index,
 vl53l8ch_distance_matrix, as7341_channels, fusion_defects, created_at, organization_id)
 VALUES ($1, $2, $3, 10, $4, $5, 0.5, 0.5, 1000000, 12.5, 0.5, '[[1,2],[3,4]]', '{"F1_415nm":1200}', $6::jsonb, $1, $7)`,
			at(s.ts), dev, prefix+"-S"+string(rune('1'+i)), s.grade, s.score, `["`+prefix+`-DEFECT"]`, org)
	}
	f.exec(`INSERT INTO sqal_alerts (alert_id, "time", device_id, sample_id, alert_type, severity, title, message, acknowledged, organization_id)
 OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, 'quality_low', 'critical', 'quality_low', $5, false, $6)`,
		firstAlert, at("2026-11-27T09:00:00Z"), dev, prefix+"-S1", prefix+"-ALERT", org)
}

func (f *tenantFixture) server(withRedis bool) http.Handler {
	f.t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var rdb redis.UniversalClient
	if withRedis {
		rdb = testenv.Redis(f.t)
	}
	s := &Server{db: f.db, cfg: testConfig, logger: logger, now: func() time.Time { return t0 }}
	s.cache = newAggregateCache(rdb, logger)
	return s.routes()
}

// call serves one request in scope (what the auth middleware puts in the context).
func call(t *testing.T, h http.Handler, scope tenant.Scope, method, target, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req = req.WithContext(tenant.With(req.Context(), scope))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// fill replaces the path parameters of path with ids; an unknown parameter (a new
// route) fails the test until ids has a value for it.
func fill(t *testing.T, path string, ids map[string]string) string {
	t.Helper()
	return pathParam.ReplaceAllStringFunc(path, func(m string) string {
		v, ok := ids[m[1:len(m)-1]]
		if !ok {
			t.Fatalf("%s: no test value for %s", path, m)
		}
		return v
	})
}

// getTargets lists every GET route of the function (routeTable: the same list the
// OpenAPI test checks) with a few query strings: defaults, a wide period, filters
// naming either organisation's device and samples.
func getTargets(t *testing.T, ids map[string]string) []string {
	t.Helper()
	queries := []string{"",
		"?start_date=2026-11-01&end_date=2026-11-28&limit=100&format=json&time_range=30d&sample_ids=ORGA-S1,ORGB-S1,ORGB-S2",
		"?device_id=ORGB-DEV&format=json&time_range=7d&sample_ids=ORGB-S1",
		"?device_id=ORGA-DEV&grade=A&format=json&sample_ids=ORGA-S1",
	}
	var out []string
	for _, r := range routeTable() {
		if r.Method != http.MethodGet {
			continue
		}
		for _, q := range queries {
			out = append(out, fill(t, r.Path, ids)+q)
		}
	}
	return out
}

// TestTenantIsolationAnalysisAPI: in organisation A's scope, on the application role,
// no GET route of analysis-api returns or counts organisation B's rows (responses are
// byte-identical before and after B's data is stored, with and without the cache); B's
// analysis and device are 404; updating B's device is a 404 that changes nothing. B's
// scope sees B's data, the all-organisations scope both.
func TestTenantIsolationAnalysisAPI(t *testing.T) {
	f := newTenantFixture(t)
	// A's samples are an hour older than B's: B's would be the newest everywhere.
	f.seed(orgA, "ORGA", -time.Hour, 101)
	h := f.server(false)
	inA, inB := tenant.Org(orgA), tenant.Org(orgB)
	targets := getTargets(t, map[string]string{"analysis_id": "ORGA-S1", "device_id": "ORGA-DEV"})

	baseline := map[string]string{}
	sawA := false
	for _, target := range targets {
		code, body := call(t, h, inA, "GET", target, "")
		if code >= 500 {
			t.Fatalf("GET %s in A: %d %s", target, code, body)
		}
		baseline[target] = body
		sawA = sawA || strings.Contains(body, "ORGA")
	}
	if !sawA {
		t.Fatal("no response in A's scope shows A's data: the walk checks nothing")
	}

	f.seed(orgB, "ORGB", 0, 201)
	t.Run("reads in A's scope ignore B", func(t *testing.T) {
		for _, target := range targets {
			_, body := call(t, h, inA, "GET", target, "")
			if strings.Contains(body, "ORGB") {
				t.Errorf("GET %s in A's scope shows B's data: %s", target, body)
			} else if body != baseline[target] {
				t.Errorf("GET %s in A's scope changed when B's data was stored:\n before %s\n after  %s", target, baseline[target], body)
			}
		}
	})
	t.Run("cache is per organisation", func(t *testing.T) {
		hc := f.server(true)
		for _, target := range targets {
			call(t, hc, inB, "GET", target, "") // B's values cached first
			if _, body := call(t, hc, inA, "GET", target, ""); body != baseline[target] {
				t.Errorf("GET %s in A's scope after B's (cached):\n got  %s\n want %s", target, body, baseline[target])
			}
		}
	})
	t.Run("B's ids are not found in A's scope", func(t *testing.T) {
		bIDs := map[string]string{"analysis_id": "ORGB-S1", "device_id": "ORGB-DEV"}
		for _, r := range routeTable() {
			if r.Method != http.MethodGet || !strings.Contains(r.Path, "{") {
				continue
			}
			target := fill(t, r.Path, bIDs)
			code, body := call(t, h, inA, "GET", target, "")
			if strings.Contains(body, "ORGB") {
				t.Errorf("GET %s in A's scope: %s", target, body)
			}
			if r.Path == "/api/analysis/trends/{device_id}" {
				// A series, not a resource: B's device has no points in A's scope.
				if code != http.StatusOK || body != "[]" {
					t.Errorf("GET %s in A's scope: %d %s, want []", target, code, body)
				}
				continue
			}
			if code != http.StatusNotFound {
				t.Errorf("GET %s in A's scope: %d %s, want 404", target, code, body)
			}
		}
		// The row uuid of B's sample is not found either.
		var id string
		if err := f.owner.QueryRow(context.Background(), `SELECT id::text FROM sensor_samples WHERE sample_id = 'ORGB-S1'`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if code, body := call(t, h, inA, "GET", "/api/analysis/history/"+id, ""); code != http.StatusNotFound {
			t.Errorf("B's analysis by uuid in A's scope: %d %s", code, body)
		}
	})
	t.Run("updating B's device is 404 and changes nothing", func(t *testing.T) {
		row := func(id string) string {
			var s string
			if err := f.owner.QueryRow(context.Background(), `SELECT row_to_json(d)::text FROM sqal_devices d WHERE device_id = $1`, id).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		before := row("ORGB-DEV")
		for _, target := range []string{"/api/sensors/devices/ORGB-DEV", "/api/sensors/devices/ORGB-DEV/"} {
			code, body := call(t, h, inA, "PATCH", target, `{"name":"taken","status":"maintenance","location":"elsewhere"}`)
			if code != http.StatusNotFound {
				t.Errorf("PATCH %s in A's scope: %d %s, want 404", target, code, body)
			}
		}
		if got := row("ORGB-DEV"); got != before {
			t.Errorf("B's device changed:\n before %s\n after  %s", before, got)
		}
		var audits int
		if err := f.owner.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE resource_id = 'ORGB-DEV'`).Scan(&audits); err != nil || audits != 0 {
			t.Errorf("audit rows for B's device: %d, %v", audits, err)
		}
		// A's own device: updated, audited in A.
		if code, body := call(t, h, inA, "PATCH", "/api/sensors/devices/ORGA-DEV", `{"name":"Renamed"}`); code != http.StatusOK {
			t.Fatalf("PATCH A's device in A's scope: %d %s", code, body)
		}
		var org string
		if err := f.owner.QueryRow(context.Background(), `SELECT organization_id::text FROM audit_log WHERE resource_id = 'ORGA-DEV'`).Scan(&org); err != nil || org != orgA {
			t.Errorf("audit of A's device update: organisation %q, %v", org, err)
		}
	})
	t.Run("B's scope sees B", func(t *testing.T) {
		if code, body := call(t, h, inB, "GET", "/api/analysis/history/ORGB-S1", ""); code != http.StatusOK {
			t.Errorf("B's analysis in B's scope: %d %s", code, body)
		}
		_, body := call(t, h, inB, "GET", "/api/sensors/devices", "")
		if !strings.Contains(body, "ORGB-DEV") || strings.Contains(body, "ORGA") {
			t.Errorf("devices in B's scope: %s", body)
		}
		if code, body := call(t, h, inB, "PATCH", "/api/sensors/devices/ORGB-DEV", `{"notes":"ok"}`); code != http.StatusOK {
			t.Errorf("PATCH B's device in B's scope: %d %s", code, body)
		}
	})
	t.Run("all organisations count both", func(t *testing.T) {
		_, body := call(t, h, tenant.All(), "GET", "/api/analysis/stats", "")
		var st analysisStats
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		if st.TotalAnalyses != 8 || st.GradeDistribution["A"] != 2 || st.GradeDistribution["REJECT"] != 2 {
			t.Errorf("stats over all organisations: %s", body)
		}
		_, body = call(t, h, tenant.All(), "GET", "/api/analysis/history?page_size=20", "")
		if !strings.Contains(body, "ORGA-S1") || !strings.Contains(body, "ORGB-S1") {
			t.Errorf("history over all organisations: %s", body)
		}
	})
}
