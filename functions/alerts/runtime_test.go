package alerts

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/testenv"
)

// TestServedByRuntime posts CloudEvents to the function mounted as its main mounts it:
// a stored sample is answered 2xx (twice: redelivery), bad data 400 (no retry).
func TestServedByRuntime(t *testing.T) {
	dbURL := testenv.DBURL(t)
	l := config.MapLookuper(map[string]string{"DATABASE_URL": dbURL})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, err := runtime.LoadConfig(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	env, closeEnv, err := runtime.NewEnv(ctx, cfg, Function.Service, Function.Needs)
	if err != nil {
		t.Fatal(err)
	}
	defer closeEnv(context.Background())
	h, err := runtime.Handler(ctx, Function, env)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	defer hs.Close()

	post := func(id, typ string, data []byte) int {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/", bytes.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Id", id)
		req.Header.Set("Ce-Source", sample.Source)
		req.Header.Set("Ce-Type", typ)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	e := storedEvent(t, fixtures.Sample2, sample.Source)
	for range 2 {
		if code := post("MG-261127-6331-083", sample.TypeStored, e.Data()); code/100 != 2 {
			t.Fatalf("stored sample: status %d", code)
		}
	}
	if code := post("bad-1", sample.TypeStored, []byte(`{"sample_id":1}`)); code != http.StatusBadRequest {
		t.Fatalf("bad data: status %d, want 400", code)
	}
	var n int
	if err := env.DB.QueryRow(ctx, `SELECT count(*) FROM sqal_alerts`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d alert rows (%v), want 2", n, err)
	}
}
