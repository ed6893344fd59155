package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/coder/websocket"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/testenv"
)

func newEnv(t *testing.T, vars map[string]string, needs runtime.Needs) *runtime.Env {
	t.Helper()
	cfg, err := runtime.LoadConfig(t.Context(), config.MapLookuper(vars))
	if err != nil {
		t.Fatal(err)
	}
	env, closeEnv, err := runtime.NewEnv(t.Context(), cfg, "test-svc", needs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeEnv(context.Background()) })
	return env
}

func serve(t *testing.T, env *runtime.Env, fn runtime.Function) *httptest.Server {
	t.Helper()
	h, err := runtime.Handler(t.Context(), fn, env)
	if err != nil {
		t.Fatal(err)
	}
	env.Health.MarkStarted()
	srv := httptest.NewServer(runtime.WithProbes(env, h))
	t.Cleanup(srv.Close)
	return srv
}

func TestPanicRecoveryRequestIDAndMetrics(t *testing.T) {
	env := newEnv(t, nil, runtime.Needs{})
	srv := serve(t, env, runtime.Function{Target: "T", HTTP: func(ctx context.Context, env *runtime.Env) (http.Handler, error) {
		rt := httpapi.NewRouter()
		rt.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
		rt.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
			httpapi.JSON(w, 200, map[string]string{"id": r.PathValue("id")})
		})
		return rt, nil
	}})
	tests := []struct {
		path     string
		reqID    string
		wantCode int
		wantBody string
	}{
		{"/boom", "", 500, `{"detail":"Internal Server Error"}`},
		{"/items/7", "client-id-123", 200, `{"id":"7"}`},
		{"/boom", "", 500, `{"detail":"Internal Server Error"}`}, // still serving after a panic
		{"/nope", "bad id with spaces", 404, `{"detail":"Not Found"}`},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
		if tt.reqID != "" {
			req.Header.Set("X-Request-ID", tt.reqID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantCode || string(body) != tt.wantBody {
			t.Errorf("%s: %d %s", tt.path, resp.StatusCode, body)
		}
		id := resp.Header.Get("X-Request-ID")
		switch {
		case tt.reqID == "client-id-123" && id != tt.reqID:
			t.Errorf("request id not echoed: %q", id)
		case id == "" || strings.Contains(id, " "):
			t.Errorf("bad generated request id %q", id)
		}
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(b)
	for _, want := range []string{
		`http_requests_total{endpoint="GET /boom",method="GET",service="test-svc",status_code="500"} 2`,
		`http_requests_total{endpoint="GET /items/{id}",method="GET",service="test-svc",status_code="200"} 1`,
		`http_requests_total{endpoint="unmatched",method="GET",service="test-svc",status_code="404"} 1`,
		`http_request_duration_seconds_bucket{endpoint="GET /items/{id}",method="GET",service="test-svc",le="0.005"}`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, `endpoint="/metrics"`) || strings.Contains(metrics, `endpoint="GET /healthz"`) {
		t.Error("probes or scrapes counted as requests")
	}
}

func TestEventFunction(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	env := newEnv(t, nil, runtime.Needs{})
	env.Tracer = tp.Tracer("test")
	var got sync.Map
	srv := serve(t, env, runtime.Function{Target: "E", Event: func(ctx context.Context, env *runtime.Env) (runtime.EventHandler, error) {
		return func(ctx context.Context, e cloudevents.Event) error {
			got.Store(e.ID(), string(e.Data()))
			switch e.Type() {
			case "test.bad":
				return events.Permanent(errors.New("sample is not valid"))
			case "test.fail":
				return errors.New("database unavailable")
			}
			return nil
		}, nil
	}})
	binary := func(id, typ string, extra map[string]string) *http.Request {
		r, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"n":1}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("ce-specversion", "1.0")
		r.Header.Set("ce-id", id)
		r.Header.Set("ce-source", "test/source")
		if typ != "" {
			r.Header.Set("ce-type", typ)
		}
		for k, v := range extra {
			r.Header.Set(k, v)
		}
		return r
	}
	structured := func(id, typ, traceparent string) *http.Request {
		ev := map[string]any{"specversion": "1.0", "id": id, "source": "test/source", "type": typ,
			"datacontenttype": "application/json", "data": map[string]int{"n": 2}}
		if traceparent != "" {
			ev["traceparent"] = traceparent
		}
		b, _ := json.Marshal(ev)
		r, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/cloudevents+json")
		return r
	}
	plain, _ := http.NewRequest("POST", srv.URL, strings.NewReader(`{"n":3}`))
	plain.Header.Set("Content-Type", "application/json")
	get, _ := http.NewRequest("GET", srv.URL, nil)
	const extTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const hdrTrace = "0af7651916cd43dd8448eb211c80319c"
	tests := []struct {
		name      string
		req       *http.Request
		wantCode  int
		wantID    string
		wantTrace string
	}{
		{"binary ok", binary("b1", "test.ok", nil), 200, "b1", ""},
		{"structured ok with trace extension", structured("s1", "test.ok", "00-"+extTrace+"-00f067aa0ba902b7-01"), 200, "s1", extTrace},
		{"binary with traceparent header", binary("b2", "test.ok", map[string]string{"traceparent": "00-" + hdrTrace + "-b7ad6b7169203331-01"}), 200, "b2", hdrTrace},
		{"permanent error", binary("b3", "test.bad", nil), 400, "b3", ""},
		{"transient error", structured("s2", "test.fail", ""), 500, "s2", ""},
		{"missing type", binary("b4", "", nil), 400, "", ""},
		{"plain JSON is not an event", plain, 400, "", ""},
		{"GET", get, 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.Reset()
			resp, err := http.DefaultClient.Do(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantID != "" {
				if _, ok := got.Load(tt.wantID); !ok {
					t.Errorf("handler did not see event %s", tt.wantID)
				}
			}
			if tt.wantTrace != "" {
				spans := rec.Ended()
				if len(spans) != 1 || spans[0].SpanContext().TraceID().String() != tt.wantTrace {
					t.Fatalf("event span not in the producer's trace: %v", spans)
				}
			}
		})
	}
	if d, _ := got.Load("s1"); d != `{"n":2}` {
		t.Errorf("structured data = %v", d)
	}
}

// redisProxy forwards TCP to Redis and counts PING commands; Close cuts every
// connection, which is what a Redis outage looks like to the client.
type redisProxy struct {
	ln    net.Listener
	pings atomic.Int64
	mu    sync.Mutex
	conns []net.Conn
}

func newRedisProxy(t *testing.T, target string) *redisProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &redisProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(c, up) }()
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						p.pings.Add(int64(bytes.Count(bytes.ToLower(buf[:n]), []byte("$4\r\nping\r\n"))))
						_, _ = up.Write(buf[:n])
					}
					if err != nil {
						up.Close()
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(p.Close)
	return p
}

func (p *redisProxy) Addr() string { return p.ln.Addr().String() }

func (p *redisProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

func TestReadinessUsesCachedChecks(t *testing.T) {
	redisURL := testenv.RedisURL(t)
	target := strings.TrimPrefix(redisURL, "redis://")
	if i := strings.IndexAny(target, "/?"); i >= 0 {
		target = target[:i]
	}
	if at := strings.LastIndex(target, "@"); at >= 0 {
		target = target[at+1:]
	}
	proxy := newRedisProxy(t, target)
	proxied := strings.Replace(redisURL, target, proxy.Addr(), 1)
	const interval = 200 * time.Millisecond
	env := newEnv(t, map[string]string{"REDIS_URL": proxied, "DATABASE_URL": testenv.DBURL(t),
		"HEALTH_CHECK_INTERVAL": interval.String(), "HEALTH_CHECK_TIMEOUT": "300ms",
		"REDIS_DIAL_TIMEOUT": "200ms", "REDIS_READ_TIMEOUT": "200ms"}, runtime.Needs{DB: true, Redis: true})
	srv := serve(t, env, runtime.Function{Target: "R", HTTP: func(context.Context, *runtime.Env) (http.Handler, error) {
		return http.NotFoundHandler(), nil
	}})
	env.Health.Start(t.Context())
	if err := env.Health.WaitFirstRound(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, body := getJSON(t, srv.URL+"/readyz")
	if code != 200 || body["status"] != "ready" {
		t.Fatalf("readyz %d %v", code, body)
	}

	// 100 probes in quick succession do not reach Redis: the checks run on their own clock.
	before, start := proxy.pings.Load(), time.Now()
	for i := 0; i < 100; i++ {
		if code, _ := getJSON(t, srv.URL+"/readyz"); code != 200 {
			t.Fatalf("probe %d: %d", i, code)
		}
	}
	rounds := int64(time.Since(start)/interval) + 2
	if n := proxy.pings.Load() - before; n > rounds {
		t.Errorf("100 probes caused %d Redis pings (at most %d check rounds elapsed)", n, rounds)
	}

	// Redis goes away: within a couple of intervals readiness says degraded (still 200:
	// callers fail open), the legacy /health says so, and the database stays connected.
	proxy.Close()
	deadline := time.Now().Add(3 * interval)
	for {
		code, body = getJSON(t, srv.URL+"/readyz")
		if body["status"] == "degraded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness did not notice Redis down within %s: %d %v", 3*interval, code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checks := body["checks"].(map[string]any)
	if code != 200 || checks["cache"].(map[string]any)["status"] == "ready" || checks["database"].(map[string]any)["status"] != "ready" {
		t.Errorf("readyz with Redis down: %d %v", code, body)
	}
	code, legacy := getJSON(t, srv.URL+"/health")
	if code != 200 || legacy["status"] != "degraded" || legacy["cache"] != "disconnected" || legacy["database"] != "connected" || legacy["auth_mode"] != "open" {
		t.Errorf("/health with Redis down: %d %v", code, legacy)
	}
	d := env.Health.Details(t.Context())
	if !d.DatabaseConnected || d.CacheConnected || d.Status != "degraded" {
		t.Errorf("details %+v", d)
	}
	// Shutting down flips readiness and liveness to 503.
	env.Health.MarkShuttingDown()
	if code, body := getJSON(t, srv.URL+"/readyz"); code != 503 || body["message"] != "Application is shutting down" {
		t.Errorf("readyz while shutting down: %d %v", code, body)
	}
	if code, body := getJSON(t, srv.URL+"/health/live"); code != 503 || body["status"] != "unhealthy" {
		t.Errorf("live while shutting down: %d %v", code, body)
	}
}

func TestWebSocketSurvivesWriteTimeoutAndIsToldOfShutdown(t *testing.T) {
	env := newEnv(t, nil, runtime.Needs{})
	h, err := runtime.Handler(t.Context(), runtime.Function{Target: "W", HTTP: func(context.Context, *runtime.Env) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			ctx, cancel := runtime.ShutdownContext(r.Context())
			defer cancel()
			for {
				select {
				case <-ctx.Done():
					_ = c.Close(websocket.StatusGoingAway, "server shutting down")
					return
				case <-tick.C:
					if err := c.Write(r.Context(), websocket.MessageText, []byte("tick")); err != nil {
						return
					}
				}
			}
		}), nil
	}}, env)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- runtime.ServeListener(ctx, config.Server{WriteTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond,
			MaxBodyBytes: 10, ShutdownGrace: 5 * time.Second}, ln, h)
	}()
	c, _, err := websocket.Dial(t.Context(), "ws://"+ln.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// Read well past the server's write and read timeouts.
	readUntil := time.Now().Add(700 * time.Millisecond)
	n := 0
	for time.Now().Before(readUntil) {
		if _, _, err := c.Read(t.Context()); err != nil {
			t.Fatalf("socket died after %d messages: %v", n, err)
		}
		n++
	}
	cancel()
	for {
		_, _, err := c.Read(t.Context())
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("socket ended with %v, want going away", err)
			}
			break
		}
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestShutdownGraceExpires(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- runtime.ServeListener(ctx, config.Server{ShutdownGrace: 200 * time.Millisecond}, ln, h)
	}()
	go func() { _, _ = http.Get("http://" + ln.Addr().String()) }()
	<-started
	cancel()
	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("serve returned %v, want grace expiry", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not respect its grace")
	}
}

func TestHandlerRejectsBadFunctions(t *testing.T) {
	env := newEnv(t, nil, runtime.Needs{})
	h := func(context.Context, *runtime.Env) (http.Handler, error) { return http.NotFoundHandler(), nil }
	e := func(context.Context, *runtime.Env) (runtime.EventHandler, error) { return nil, nil }
	failing := func(context.Context, *runtime.Env) (http.Handler, error) { return nil, errors.New("no model") }
	for _, fn := range []runtime.Function{{HTTP: h}, {Target: "X"}, {Target: "X", HTTP: h, Event: e}, {Target: "X", HTTP: failing}} {
		if _, err := runtime.Handler(t.Context(), fn, env); err == nil {
			t.Errorf("accepted %+v", fn)
		}
	}
	if err := runtime.CheckTarget("", runtime.Function{Target: "A"}); err != nil {
		t.Error(err)
	}
}

// BenchmarkMiddleware measures the runtime's per-request overhead (request id, span,
// metrics, recovery) around a trivial handler.
func BenchmarkMiddleware(b *testing.B) {
	cfg, _ := runtime.LoadConfig(b.Context(), config.MapLookuper(nil))
	env, closeEnv, err := runtime.NewEnv(b.Context(), cfg, "bench", runtime.Needs{})
	if err != nil {
		b.Fatal(err)
	}
	defer closeEnv(context.Background())
	h, err := runtime.Handler(b.Context(), runtime.Function{Target: "B", HTTP: func(context.Context, *runtime.Env) (http.Handler, error) {
		rt := httpapi.NewRouter()
		rt.HandleFunc("GET /x/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		return rt, nil
	}}, env)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/x/1", nil)
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func TestNewEnvFailsClearly(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		needs   runtime.Needs
		wantErr string
		maxTime time.Duration
	}{
		{"database not configured", nil, runtime.Needs{DB: true}, "DATABASE_URL is not set", time.Second},
		{"bad exec mode is not retried", map[string]string{"DATABASE_URL": "postgres://u:hunter2@127.0.0.1:1/db", "DB_EXEC_MODE": "turbo"},
			runtime.Needs{DB: true}, "invalid database configuration", time.Second},
		{"unreachable database retried then fails", map[string]string{"DATABASE_URL": "postgres://u:hunter2@127.0.0.1:1/db", "DB_CONNECT_TIMEOUT": "200ms"},
			runtime.Needs{DB: true}, "connect to postgres://u:xxxxx@127.0.0.1:1/db", 10 * time.Second},
		{"redis not configured", nil, runtime.Needs{Redis: true}, "REDIS_URL / REDIS_ADDRS is not set", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := runtime.LoadConfig(t.Context(), config.MapLookuper(tt.vars))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, _, err = runtime.NewEnv(t.Context(), cfg, "x", tt.needs)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("err = %v, want %q without secrets", err, tt.wantErr)
			}
			if d := time.Since(start); d > tt.maxTime {
				t.Errorf("took %s", d)
			}
		})
	}
}
