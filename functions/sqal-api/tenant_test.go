package sqalapi

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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/ml/synth"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

// Organisation A is the default organisation, B a second one. Every id of B's data
// contains "ORGB", so a response that leaks a row of B shows it; aggregates that would
// count B's rows are caught by comparing A's responses before and after B's data
// exists.
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
	f.exec(`INSERT INTO lots_gavage (id, code_lot, site_code) VALUES (10, 'LL10', 'LL'), (12, 'LL12', 'LL')`)
	return f
}

func (f *tenantFixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.owner.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

// seedA stores organisation A's device, samples (lot 10 holds A, A, B) and alert.
func (f *tenantFixture) seedA() {
	f.t.Helper()
	f.exec(`INSERT INTO sqal_devices (device_id, device_name, site_code, status, created_at, last_seen, organization_id) VALUES
 ('ORGA-DEV', 'Station A', 'LL', 'active', '2026-11-01T00:00:00Z', '2026-11-27T10:20:00Z', $1)`, orgA)
	f.exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, lot_id, fusion_final_grade, fusion_final_score,
 vl53l8ch_volume_mm3, as7341_freshness_index, poids_foie_estime_g, created_at, organization_id) VALUES
 ('2026-11-27T10:20:00Z', 'ORGA-DEV', 'ORGA-S1', 10, 'A', 0.75, 1000000, 0.5, 900, '2026-11-27T10:20:01Z', $1),
 ('2026-11-27T08:30:00Z', 'ORGA-DEV', 'ORGA-S2', 10, 'A', 0.75, 2000000, 0.75, 950, '2026-11-27T08:30:01Z', $1),
 ('2026-11-26T05:10:00Z', 'ORGA-DEV', 'ORGA-S3', 10, 'B', 0.5, NULL, NULL, 800, '2026-11-26T05:10:01Z', $1),
 ('2026-11-20T12:00:00Z', 'ORGA-DEV', 'ORGA-S4', NULL, 'REJECT', 0.25, NULL, NULL, NULL, '2026-11-20T12:00:01Z', $1)`, orgA)
	f.exec(`INSERT INTO sqal_alerts (alert_id, "time", device_id, sample_id, alert_type, severity, title, message, acknowledged, organization_id)
 OVERRIDING SYSTEM VALUE VALUES
 (101, '2026-11-27T10:00:00Z', 'ORGA-DEV', 'ORGA-S1', 'quality_low', 'warning', 'quality_low', 'ORGA-ALERT', false, $1)`, orgA)
	f.exec(`SELECT setval(pg_get_serial_sequence('sqal_alerts', 'alert_id'), 500)`)
}

// seedB stores organisation B's device (same site as A's), samples (lot 10 again with
// B, B, C: over both organisations lot 10's majority grade is B, A's alone it is A; lot
// 12 only B's; ORGB-S5 is the newest sample of all) and alerts.
func (f *tenantFixture) seedB() {
	f.t.Helper()
	f.exec(`INSERT INTO sqal_devices (device_id, device_name, site_code, status, created_at, last_seen, organization_id) VALUES
 ('ORGB-DEV', 'ORGB Station', 'LL', 'active', '2026-11-02T00:00:00Z', '2026-11-27T10:29:30Z', $1)`, orgB)
	f.exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, lot_id, fusion_final_grade, fusion_final_score,
 vl53l8ch_volume_mm3, as7341_freshness_index, poids_foie_estime_g, created_at, organization_id) VALUES
 ('2026-11-27T10:25:00Z', 'ORGB-DEV', 'ORGB-S1', 10, 'B', 0.625, 3000000, 0.25, 700, '2026-11-27T10:25:01Z', $1),
 ('2026-11-27T09:15:00Z', 'ORGB-DEV', 'ORGB-S2', 10, 'B', 0.5, NULL, NULL, 650, '2026-11-27T09:15:01Z', $1),
 ('2026-11-26T06:40:00Z', 'ORGB-DEV', 'ORGB-S3', 10, 'C', 0.375, NULL, 0.125, 600, '2026-11-26T06:40:01Z', $1),
 ('2026-11-25T12:00:00Z', 'ORGB-DEV', 'ORGB-S4', 12, 'REJECT', 0.125, NULL, NULL, 500, '2026-11-25T12:00:01Z', $1),
 ('2026-11-27T10:29:30Z', 'ORGB-DEV', 'ORGB-S5', NULL, 'A+', 0.875, NULL, NULL, NULL, '2026-11-27T10:29:31Z', $1)`, orgB)
	f.exec(`INSERT INTO sqal_alerts (alert_id, "time", device_id, sample_id, alert_type, severity, title, message, acknowledged, organization_id)
 OVERRIDING SYSTEM VALUE VALUES
 (201, '2026-11-27T10:10:00Z', 'ORGB-DEV', 'ORGB-S4', 'grade_reject', 'critical', 'grade_reject', 'ORGB-ALERT', false, $1),
 (202, '2026-11-27T09:10:00Z', 'ORGB-DEV', 'ORGB-S2', 'quality_low', 'critical', 'quality_low', 'ORGB-ALERT-2', false, $1)`, orgB)
}

// handler returns sqal-api on the application role's pool with the fixed clock.
func (f *tenantFixture) handler(withRedis bool) http.Handler {
	f.t.Helper()
	o := Options{Now: func() time.Time { return now }, Config: Config{CacheTTL: time.Minute},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if withRedis {
		o.Redis = testenv.Redis(f.t)
	}
	h, err := New(f.db, o)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

// call serves one request in scope (what the auth middleware puts in the context).
func call(t *testing.T, h http.Handler, scope tenant.Scope, method, target, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req = req.WithContext(tenant.With(req.Context(), scope))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// getTargets lists every GET route of sqal-api with its path parameters filled from
// ids and a few query strings (wide period, filters naming either organisation). A new
// route is walked without changing this test; a new path parameter fails it until ids
// gets a value for it.
func getTargets(t *testing.T, ids map[string]string) []string {
	t.Helper()
	queries := []string{"",
		"?start_time=2026-11-01T00:00:00Z&end_time=2026-11-28T00:00:00Z&limit=500",
		"?start_time=2026-11-01T00:00:00Z&device_id=ORGB-DEV&site_code=LL",
		"?start_time=2026-11-01T00:00:00Z&device_id=ORGA-DEV&site_code=LL",
	}
	var out []string
	for _, r := range (&API{}).routes() {
		if r.Method != http.MethodGet {
			continue
		}
		path := pathParam.ReplaceAllStringFunc(r.Path, func(m string) string {
			v, ok := ids[m[1:len(m)-1]]
			if !ok {
				t.Fatalf("%s: no test value for %s", r.Path, m)
			}
			return v
		})
		for _, q := range queries {
			out = append(out, path+q)
		}
	}
	return out
}

// TestTenantIsolationSqalAPI: in organisation A's scope, on the application role, no
// GET route of sqal-api returns or counts organisation B's rows (every response is
// byte-identical before and after B's data is stored, with and without the cache);
// B's ids are 404 on detail routes; acknowledging B's alert, predicting B's sample or
// alerting on B's device or sample is a 404 that leaves B's rows unchanged. B's scope
// does see B's data, and the all-organisations scope sums both (lot rollup included).
func TestTenantIsolationSqalAPI(t *testing.T) {
	f := newTenantFixture(t)
	f.seedA()
	h := f.handler(false)
	inA, inB := tenant.Org(orgA), tenant.Org(orgB)
	aIDs := map[string]string{"device_id": "ORGA-DEV", "lot_id": "10"}
	targets := getTargets(t, aIDs)

	baseline := map[string]string{}
	sawA := false
	for _, target := range targets {
		code, body := call(t, h, inA, "GET", target, "")
		baseline[target] = body
		if code >= 500 {
			t.Fatalf("GET %s in A: %d %s", target, code, body)
		}
		sawA = sawA || strings.Contains(body, "ORGA")
	}
	if !sawA {
		t.Fatal("no response in A's scope shows A's data: the walk checks nothing")
	}

	f.seedB()
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
		hc := f.handler(true)
		for _, target := range targets {
			call(t, hc, inB, "GET", target, "") // B's values cached first
			if _, body := call(t, hc, inA, "GET", target, ""); body != baseline[target] {
				t.Errorf("GET %s in A's scope after B's (cached):\n got  %s\n want %s", target, body, baseline[target])
			}
		}
	})
	t.Run("B's ids are not found in A's scope", func(t *testing.T) {
		bIDs := map[string]string{"device_id": "ORGB-DEV", "lot_id": "12"}
		for _, r := range (&API{}).routes() {
			if r.Method != http.MethodGet || !strings.Contains(r.Path, "{") {
				continue
			}
			target := pathParam.ReplaceAllStringFunc(r.Path, func(m string) string { return bIDs[m[1:len(m)-1]] })
			code, body := call(t, h, inA, "GET", target, "")
			// A 404 may repeat the id asked for; nothing else of B may show.
			if strings.Contains(strings.ReplaceAll(body, "ORGB-DEV", ""), "ORGB") {
				t.Errorf("GET %s in A's scope: %s", target, body)
			}
			if r.Path == "/api/lots/{lot_id}/qualite" {
				// Lots are shared reference data (lots_gavage): the lot exists, but none
				// of its samples are A's.
				if code != http.StatusOK || !strings.Contains(body, `"has_sqal_data":false`) {
					t.Errorf("GET %s in A's scope: %d %s, want a lot without SQAL data", target, code, body)
				}
				continue
			}
			if code != http.StatusNotFound {
				t.Errorf("GET %s in A's scope: %d %s, want 404", target, code, body)
			}
		}
		if code, body := call(t, h, inA, "GET", "/api/sqal/samples/latest?device_id=ORGB-DEV", ""); code != http.StatusNotFound {
			t.Errorf("latest sample of B's device in A's scope: %d %s", code, body)
		}
	})

	t.Run("mutations of B's resources are 404 and change nothing", func(t *testing.T) {
		alertRow := func(id int) string {
			var s string
			if err := f.owner.QueryRow(context.Background(), `SELECT row_to_json(a)::text FROM sqal_alerts a WHERE alert_id = $1`, id).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return s
		}
		count := func(sql string) int {
			var n int
			if err := f.owner.QueryRow(context.Background(), sql).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before201, alerts, predictions := alertRow(201), count(`SELECT count(*) FROM sqal_alerts`), count(`SELECT count(*) FROM predictions`)
		for _, m := range []struct{ method, target, body string }{
			{"POST", "/api/sqal/alerts/201/acknowledge?acknowledged_by=intruder", ""},
			{"POST", "/api/sqal/predict?sample_id=ORGB-S1", ""},
			// The same (sample, type) as B's alert 201, and a new type on B's sample.
			{"POST", "/api/sqal/alerts", `{"device_id":"X","sample_id":"ORGB-S4","alert_type":"grade_reject","severity":"info","message":"m"}`},
			{"POST", "/api/sqal/alerts", `{"device_id":"X","sample_id":"ORGB-S4","alert_type":"manual","severity":"info","message":"m"}`},
			// B's device with a sample id stored nowhere.
			{"POST", "/api/sqal/alerts", `{"device_id":"ORGB-DEV","sample_id":"NEW-1","alert_type":"manual","severity":"info","message":"m"}`},
		} {
			code, body := call(t, h, inA, m.method, m.target, m.body)
			if code != http.StatusNotFound {
				t.Errorf("%s %s %s in A's scope: %d %s, want 404", m.method, m.target, m.body, code, body)
			}
		}
		if got := alertRow(201); got != before201 {
			t.Errorf("B's alert changed:\n before %s\n after  %s", before201, got)
		}
		if n := count(`SELECT count(*) FROM sqal_alerts`); n != alerts {
			t.Errorf("alerts: %d, want %d", n, alerts)
		}
		if n := count(`SELECT count(*) FROM predictions`); n != predictions {
			t.Errorf("predictions: %d, want %d", n, predictions)
		}
		if n := count(`SELECT count(*) FROM audit_log WHERE resource_id = '201'`); n != 0 {
			t.Errorf("audit rows for B's alert: %d", n)
		}
	})

	t.Run("writes in A's scope stay in A", func(t *testing.T) {
		if code, body := call(t, h, inA, "POST", "/api/sqal/alerts",
			`{"device_id":"ORGA-DEV","sample_id":"ORGA-S2","alert_type":"manual","severity":"info","message":"m"}`); code != http.StatusOK {
			t.Fatalf("alert on A's sample: %d %s", code, body)
		}
		if code, body := call(t, h, inA, "POST", "/api/sqal/predict?sample_id=ORGA-S1", ""); code != http.StatusOK {
			t.Fatalf("predict A's sample: %d %s", code, body)
		}
		if code, body := call(t, h, inA, "POST", "/api/sqal/alerts/101/acknowledge?acknowledged_by=op", ""); code != http.StatusOK {
			t.Fatalf("acknowledge A's alert: %d %s", code, body)
		}
		var alertOrg, eventOrg, predOrg, auditOrg string
		err := f.owner.QueryRow(context.Background(), `SELECT
  (SELECT organization_id::text FROM sqal_alerts WHERE sample_id = 'ORGA-S2' AND alert_type = 'manual'),
  (SELECT attributes->>'organizationid' FROM event_outbox WHERE subject = 'ORGA-S2'),
  (SELECT organization_id::text FROM predictions WHERE sample_id = 'ORGA-S1'),
  (SELECT organization_id::text FROM audit_log WHERE resource_type = 'alert' AND resource_id = '101')`).
			Scan(&alertOrg, &eventOrg, &predOrg, &auditOrg)
		if err != nil {
			t.Fatal(err)
		}
		if alertOrg != orgA || eventOrg != orgA || predOrg != orgA || auditOrg != orgA {
			t.Fatalf("organisations of A's writes: alert %s, event %s, prediction %s, audit %s; want %s", alertOrg, eventOrg, predOrg, auditOrg, orgA)
		}
	})

	t.Run("B's scope sees B", func(t *testing.T) {
		if code, body := call(t, h, inB, "GET", "/api/sqal/devices/ORGB-DEV", ""); code != http.StatusOK {
			t.Errorf("B's device in B's scope: %d %s", code, body)
		}
		_, body := call(t, h, inB, "GET", "/api/sqal/samples?start_time=2026-11-01T00:00:00Z", "")
		if !strings.Contains(body, "ORGB-S1") || strings.Contains(body, "ORGA") {
			t.Errorf("samples in B's scope: %s", body)
		}
		if code, body := call(t, h, inB, "POST", "/api/sqal/alerts/201/acknowledge?acknowledged_by=op-b", ""); code != http.StatusOK {
			t.Errorf("B acknowledges its alert: %d %s", code, body)
		}
	})

	t.Run("all organisations sum both", func(t *testing.T) {
		all := tenant.All()
		_, body := call(t, h, all, "GET", "/api/sqal/integration/lots-aggregated", "")
		var lots lotsAggregatedResponse
		if err := json.Unmarshal([]byte(body), &lots); err != nil {
			t.Fatal(err)
		}
		got := map[int64]lotAggregate{}
		for _, l := range lots.Lots {
			got[l.LotID] = l
		}
		// Lot 10: A's A, A, B and B's B, B, C: six samples, majority B (3 of 6), which
		// neither organisation's own rows show.
		if l := got[10]; l.NbEchantillons != 6 || l.GradeMajoritaire == nil || *l.GradeMajoritaire != "B" || got[12].NbEchantillons != 1 {
			t.Errorf("lots-aggregated over all organisations: %s", body)
		}
		_, body = call(t, h, inA, "GET", "/api/sqal/integration/lots-aggregated", "")
		if !strings.Contains(body, `"lot_id":10,"nb_echantillons":3,`) || !strings.Contains(body, `"grade_majoritaire":"A"`) || strings.Contains(body, `"lot_id":12`) {
			t.Errorf("lots-aggregated in A's scope: %s", body)
		}
		if code, body := call(t, h, all, "GET", "/api/sqal/integration/lot/10", ""); code != http.StatusOK || !strings.Contains(body, `"total_samples":6`) {
			t.Errorf("lot 10 over all organisations: %d %s", code, body)
		}
		_, body = call(t, h, all, "GET", "/api/sqal/dashboard/overview", "")
		var ov map[string]any
		if err := json.Unmarshal([]byte(body), &ov); err != nil {
			t.Fatal(err)
		}
		// Every device: A's, B's and those the migrations register in the default
		// organisation.
		var devices int
		if err := f.owner.QueryRow(context.Background(), `SELECT count(*) FROM sqal_devices`).Scan(&devices); err != nil {
			t.Fatal(err)
		}
		if ov["totalSamples"] != float64(9) || ov["total_devices"] != float64(devices) {
			t.Errorf("overview over all organisations: totalSamples %v, total_devices %v", ov["totalSamples"], ov["total_devices"])
		}
		// A super administrator's manual alert on B's device belongs to B, event included.
		if code, body := call(t, h, all, "POST", "/api/sqal/alerts",
			`{"device_id":"ORGB-DEV","sample_id":"ORGB-S3","alert_type":"manual","severity":"info","message":"m"}`); code != http.StatusOK {
			t.Fatalf("super_admin alert on B's device: %d %s", code, body)
		}
		var alertOrg, eventOrg string
		if err := f.owner.QueryRow(context.Background(), `SELECT
  (SELECT organization_id::text FROM sqal_alerts WHERE sample_id = 'ORGB-S3' AND alert_type = 'manual'),
  (SELECT attributes->>'organizationid' FROM event_outbox WHERE subject = 'ORGB-S3')`).Scan(&alertOrg, &eventOrg); err != nil {
			t.Fatal(err)
		}
		if alertOrg != orgB || eventOrg != orgB {
			t.Fatalf("super_admin alert on B's device: alert in %s, event for %s; want %s", alertOrg, eventOrg, orgB)
		}
	})
}

// TestTenantIsolationPredictWithModel: POST /api/sqal/predict backed by the model
// registry (shared by every organisation) predicts A's sample in A's scope, stored as
// A's, and answers 404 for B's sample without storing anything.
func TestTenantIsolationPredictWithModel(t *testing.T) {
	f := newTenantFixture(t)
	ctx := context.Background()
	gen := synth.New(2)
	a, b := gen.Next(), gen.Next()
	// COPY (synth.Insert) is refused under row-level security: stored by the owner.
	if err := synth.Insert(ctx, f.owner, []synth.Sample{a, b}, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.exec(`UPDATE sensor_samples SET organization_id = $1 WHERE sample_id = $2`, orgB, b.SampleID)
	h, err := New(f.db, Options{Predictor: NewMLPredictor(f.db, slog.New(slog.NewTextHandler(io.Discard, nil))),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := call(t, h, tenant.Org(orgA), "POST", "/api/sqal/predict?sample_id="+b.SampleID, ""); code != http.StatusNotFound {
		t.Fatalf("predict B's sample in A's scope: %d %s", code, body)
	}
	if code, body := call(t, h, tenant.Org(orgA), "POST", "/api/sqal/predict?sample_id="+a.SampleID, ""); code != http.StatusOK {
		t.Fatalf("predict A's sample in A's scope: %d %s", code, body)
	}
	rows, err := f.owner.Query(ctx, `SELECT sample_id, organization_id::text FROM predictions`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var id, org string
	if _, err := pgx.ForEachRow(rows, []any{&id, &org}, func() error { got[id] = org; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[a.SampleID] != orgA {
		t.Fatalf("stored predictions (sample -> organisation): %v, want only %s -> %s", got, a.SampleID, orgA)
	}
	if code, body := call(t, h, tenant.Org(orgB), "POST", "/api/sqal/predict?sample_id="+b.SampleID, ""); code != http.StatusOK {
		t.Fatalf("predict B's sample in B's scope: %d %s", code, body)
	}
}
