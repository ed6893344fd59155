package reportsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

// t0 is "now" in every test; samples are placed relative to it.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

var testConfig = Config{MaxConcurrentReports: 2, MaxReportRows: 1000, GenerationTimeout: 30 * time.Second,
	ScheduleInterval: time.Minute, MaxFirmwareBytes: 1 << 20}

type testEnv struct {
	db    *pgxpool.Pool // the owner's: seeds and checks, outside row-level security
	app   *database.DB  // what the server uses: the application role, under row-level security
	srv   *Server
	h     http.Handler
	scope tenant.Scope // of the requests (what the auth middleware sets); default organisation when unset
}

// newEnv returns a server on a fresh migrated database, connected as the application
// role, clock fixed at t0. Requests act for e.scope.
func newEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	app, owner := testenv.AppDB(t)
	e := &testEnv{db: owner, app: database.NewDB(app)}
	e.srv = newServer(e.app, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.srv.now = func() time.Time { return t0 }
	e.h = scoped(e.srv.routes(), func() tenant.Scope { return e.scope })
	t.Cleanup(e.srv.jobs.wait) // no job may outlive its database
	return e
}

// scoped puts the scope of each request in its context, as the auth middleware does.
func scoped(h http.Handler, scope func() tenant.Scope) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := scope()
		if !s.Valid() {
			s = tenant.Org(tenant.DefaultOrganization)
		}
		h.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), s)))
	})
}

// response is a recorded answer.
type response struct {
	Code   int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
	return v
}

func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	m, ok := r.json(t).(map[string]any)
	if !ok {
		t.Fatalf("not an object: %s", r.Body)
	}
	return m
}

// do sends one request with a JSON body (or none when body is "").
func (e *testEnv) do(t *testing.T, method, target, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return e.serve(req)
}

func (e *testEnv) serve(req *http.Request) response {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return response{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// must asserts the status of a request and returns its answer.
func (e *testEnv) must(t *testing.T, method, target, body string, want int) response {
	t.Helper()
	res := e.do(t, method, target, body)
	if res.Code != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, target, res.Code, want, res.Body)
	}
	return res
}

// wantDetail asserts a {"detail","message"} error.
func wantDetail(t *testing.T, res response, code int, msg string) {
	t.Helper()
	if res.Code != code {
		t.Fatalf("status %d, want %d; body %s", res.Code, code, res.Body)
	}
	var body map[string]string
	if err := json.Unmarshal(res.Body, &body); err != nil || body["detail"] != msg || body["message"] != msg {
		t.Errorf("error body %s, want detail and message %q", res.Body, msg)
	}
}

// want422 asserts a FastAPI validation error whose first item has type typ at loc.
func want422(t *testing.T, res response, typ string, loc ...any) {
	t.Helper()
	if res.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422; body %s", res.Code, res.Body)
	}
	var body struct {
		Detail []struct {
			Type string `json:"type"`
			Loc  []any  `json:"loc"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil || len(body.Detail) == 0 {
		t.Fatalf("422 body %s: %v", res.Body, err)
	}
	got := body.Detail[0]
	wantLoc, _ := json.Marshal(loc)
	gotLoc, _ := json.Marshal(got.Loc)
	if got.Type != typ || !bytes.Equal(wantLoc, gotLoc) {
		t.Errorf("422 item %s %s, want %s %s (body %s)", got.Type, gotLoc, typ, wantLoc, res.Body)
	}
}

// seedSamples stores n samples one minute apart ending at end, grades cycling.
func seedSamples(t *testing.T, db *pgxpool.Pool, end time.Time, n int) {
	t.Helper()
	grades := []string{"A+", "A", "B", "C", "REJECT"}
	for i := 0; i < n; i++ {
		g := grades[i%len(grades)]
		_, err := db.Exec(context.Background(), `INSERT INTO sensor_samples ("timestamp", device_id, sample_id,
			fusion_final_score, fusion_final_grade, vl53l8ch_volume_mm3, as7341_freshness_index, lot_abattage)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, end.Add(-time.Duration(i)*time.Minute), "ESP32_LL_01",
			fmt.Sprintf("S-%d-%02d", end.Unix(), i), 0.9-0.1*float64(i%5), g, 1000.5, 0.8, "=LOT")
		if err != nil {
			t.Fatalf("seed sample %d: %v", i, err)
		}
	}
}

func auditCount(t *testing.T, db *pgxpool.Pool, action, resource string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = $1 AND resource_type = $2`,
		action, resource).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
