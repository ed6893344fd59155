package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/localstack"
	"github.com/sqalfn/sqal/shared/testenv"
)

// TestServesEveryFunctionOnOneOrigin runs the local stack against test servers and
// checks that each family answers on the one origin, then that it stops cleanly.
func TestServesEveryFunctionOnOneOrigin(t *testing.T) {
	p, err := localstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(p)
	t.Setenv("PORT", port)
	t.Setenv("DATABASE_URL", testenv.DBURL(t))
	t.Setenv("REDIS_URL", testenv.RedisURL(t))
	t.Setenv("LOG_LEVEL", "warn")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- realMain(ctx) }()
	base := "http://127.0.0.1:" + port

	waitReady(t, base, done)

	for _, c := range []struct {
		path string
		want int
	}{
		{"/health", 200},
		{"/api/sqal/devices", 200},
		{"/api/sqal/dashboard/overview", 200},
		{"/api/analysis/history/?limit=10", 200},
		{"/api/ai/models/", 200},
		{"/api/admin/devices/", 200},
		{"/api/reports/?limit=20", 200},
		{"/openapi.json", 200},
		{"/metrics", 200},
		{"/nope", 404},
	} {
		req, _ := http.NewRequest("GET", base+c.path, nil)
		req.Header.Set("Origin", "http://localhost:5173")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.path, resp.StatusCode, c.want)
		}
		if c.want == 200 && c.path != "/metrics" {
			var v any
			if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
				t.Errorf("%s: body is not JSON: %v", c.path, err)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:5173" && c.path != "/health" {
				t.Errorf("%s: Access-Control-Allow-Origin %q", c.path, got)
			}
		}
		resp.Body.Close()
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("devstack stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("devstack did not stop within 30s")
	}
}
