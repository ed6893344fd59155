package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/sethvargo/go-envconfig"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/edge"
	"github.com/sqalfn/sqal/shared/routes"
	"github.com/sqalfn/sqal/shared/runtime"
)

// TestProxiesHTTPAndWebSocket runs two fake functions behind the gateway and checks that
// paths, queries, methods, bodies and WebSocket upgrades reach the right one.
func TestProxiesHTTPAndWebSocket(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.URL.RequestURI()+" "+string(body))
		w.WriteHeader(201)
	}))
	defer api.Close()
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), typ, append([]byte("echo:"), msg...))
	}))
	defer ws.Close()

	table, err := routes.Parse([]byte("routes:\n  - {prefix: /api/sqal/, service: sqal-api}\n  - {prefix: /ws/realtime/, service: realtime}\n"))
	if err != nil {
		t.Fatal(err)
	}
	addr := map[string]string{"sqal-api": api.URL, "realtime": ws.URL}
	// Point every service at its fake through a template per test server.
	handlers := map[string]http.Handler{}
	for svc, u := range addr {
		target, _ := url.Parse(u)
		handlers[svc] = proxyTo(svc, target, slog.Default())
	}
	gw := httptest.NewServer(edge.Router(table, handlers))
	defer gw.Close()

	resp, err := http.Post(gw.URL+"/api/sqal/alerts?x=1", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("X-Seen") != `POST /api/sqal/alerts?x=1 {"a":1}` {
		t.Fatalf("proxied request: %d %q", resp.StatusCode, resp.Header.Get("X-Seen"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(gw.URL, "http")+"/ws/realtime/?token=x", nil)
	if err != nil {
		t.Fatalf("websocket through gateway: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.Read(ctx)
	if err != nil || string(msg) != "echo:hi" {
		t.Fatalf("websocket echo: %q %v", msg, err)
	}
}

func TestDeadServiceAnswers502(t *testing.T) {
	h, err := New(Config{ServiceURLTemplate: "http://127.0.0.1:1/{service}", Namespace: "sqal", CORS: edge.CORSConfig{AllowedOrigins: "*"}}, routes.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/sqal/devices", nil))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "sqal-api") {
		t.Fatalf("dead service: %d %s", rec.Code, rec.Body)
	}
}

func TestBadTemplateFailsAtSetup(t *testing.T) {
	if _, err := New(Config{ServiceURLTemplate: "not a url", Namespace: "x"}, routes.Default(), nil); err == nil {
		t.Fatal("bad template accepted")
	}
}

// TestServiceURLsOverrideTheTemplate: GATEWAY_SERVICE_URLS ("svc=url,...") wins over
// the template for the services it names (the multi-process rehearsal gives every
// function its own port).
func TestServiceURLsOverrideTheTemplate(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	defer api.Close()
	var cfg Config
	l := envconfig.MapLookuper(map[string]string{"GATEWAY_SERVICE_URLS": "sqal-api=" + api.URL + ",ingest=http://127.0.0.1:1"})
	if err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &cfg, Lookuper: l}); err != nil {
		t.Fatal(err)
	}
	if got := cfg.ServiceURLs["sqal-api"]; got != api.URL {
		t.Fatalf("GATEWAY_SERVICE_URLS parsed as %v", cfg.ServiceURLs)
	}
	h, err := New(cfg, routes.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/sqal/devices", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("overridden service: %d %s", rec.Code, rec.Body)
	}
}

// TestShutdownEndsProxiedWebSockets: on SIGTERM the gateway ends the WebSockets it
// proxies (clients reconnect elsewhere) instead of holding its exit until the shutdown
// grace expires. Found by the multi-process rehearsal (tools/rehearsal): a dashboard on
// /ws/realtime/ kept the gateway from exiting cleanly.
func TestShutdownEndsProxiedWebSockets(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, _, _ = c.Read(context.Background()) // a quiet dashboard: only the gateway can end it
	}))
	defer backend.Close()
	target, _ := url.Parse(backend.URL)
	table, err := routes.Parse([]byte("routes:\n  - {prefix: /ws/realtime/, service: realtime}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := edge.Router(table, map[string]http.Handler{"realtime": proxyTo("realtime", target, slog.Default())})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- runtime.ServeListener(ctx, config.Server{ShutdownGrace: 5 * time.Second}, ln, h)
	}()

	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws://"+ln.Addr().String()+"/ws/realtime/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()

	start := time.Now()
	stop() // SIGTERM
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("shutdown with a proxied WebSocket open: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("the gateway still waits for the proxied WebSocket")
	}
	if _, _, err := c.Read(dctx); err == nil {
		t.Fatal("the client socket is still open after shutdown")
	}
	t.Logf("shutdown with a proxied WebSocket took %s", time.Since(start).Round(time.Millisecond))
}
