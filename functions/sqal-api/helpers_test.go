package sqalapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/testenv"
)

// now is the fixed clock of the seeded tests: 2026-11-27 10:30 UTC.
var now = time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)

type testAPI struct {
	t   *testing.T
	db  *pgxpool.Pool
	rdb *redis.Client
	h   http.Handler
}

func newTestAPI(t *testing.T, withRedis bool) *testAPI {
	t.Helper()
	ta := &testAPI{t: t, db: testenv.DB(t)}
	o := Options{Now: func() time.Time { return now }, Config: Config{CacheTTL: time.Minute}}
	if withRedis {
		ta.rdb = testenv.Redis(t)
		o.Redis = ta.rdb
	}
	h, err := New(database.NewDB(ta.db), o)
	if err != nil {
		t.Fatal(err)
	}
	ta.h = h
	return ta
}

func (ta *testAPI) exec(sql string, args ...any) {
	ta.t.Helper()
	if _, err := ta.db.Exec(context.Background(), sql, args...); err != nil {
		ta.t.Fatalf("%s: %v", sql, err)
	}
}

// do sends one request and returns the status and body.
func (ta *testAPI) do(method, target, body string) (int, string, http.Header) {
	ta.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	ta.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

// expect checks the status and that the body equals want as JSON (order of object
// keys ignored, numbers compared exactly as decoded float64).
func (ta *testAPI) expect(method, target, body string, wantStatus int, want string) string {
	ta.t.Helper()
	code, got, _ := ta.do(method, target, body)
	if code != wantStatus {
		ta.t.Fatalf("%s %s: status %d, want %d; body %s", method, target, code, wantStatus, got)
	}
	if want != "" && !jsonEqual(ta.t, got, want) {
		ta.t.Fatalf("%s %s:\n got %s\nwant %s", method, target, got, compactJSON(ta.t, want))
	}
	return got
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("invalid JSON %q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("invalid expected JSON %q: %v", b, err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

func compactJSON(t *testing.T, s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("invalid expected JSON: %v", err)
	}
	return b.String()
}
