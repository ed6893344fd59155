package realtime

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/testenv"
)

// TestServedByRuntime mounts the function the way its main does (runtime.Handler with
// probes and middleware) and checks the WebSocket upgrade survives the middleware, the
// configuration is read from the environment, and events flow to clients.
func TestServedByRuntime(t *testing.T) {
	vars := map[string]string{
		"DATABASE_URL":     testenv.DBURL(t),
		"REDIS_URL":        testenv.RedisURL(t),
		"REALTIME_CHANNEL": "sqal:realtime:test:runtime",
		"AUTH_MODE":        "open",
	}
	l := config.MapLookuper(vars)
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
	env.Lookup = l
	h, err := runtime.Handler(ctx, Function, env)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(runtime.WithProbes(env, h))
	defer hs.Close()
	in := instance{hs: hs}

	c, hello := dial(t, in)
	if hello["active_connections"] != float64(1) {
		t.Fatalf("hello = %v", hello)
	}
	mustPost(t, in, storedEvent("S-RT-1", "ESP32_DEMO_LL_01", nil, "A", 0), false)
	if m := c.next(5 * time.Second); m["sample_id"] != "S-RT-1" {
		t.Fatalf("got %v", m)
	}
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `websocket_connections_active{endpoint="/ws/realtime/"`) {
		t.Errorf("metrics lack websocket_connections_active:\n%.2000s", body)
	}
	cancel() // the process context ends: sockets close with 1001
}
