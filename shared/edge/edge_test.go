package edge

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sqalfn/sqal/shared/routes"
)

func TestRouterDispatchesByLongestPrefix(t *testing.T) {
	table := routes.Default()
	called := ""
	svc := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = name })
	}
	h := Router(table, map[string]http.Handler{"sqal-api": svc("sqal-api"), "ingest": svc("ingest"), "realtime": svc("realtime")})
	cases := []struct{ path, want string }{
		{"/api/sqal/devices", "sqal-api"},
		{"/api/sqal", "sqal-api"},
		{"/ws/sensors/", "ingest"},
		{"/ws/sensors", "ingest"},
		{"/ws/realtime/", "realtime"},
		{"/health", "sqal-api"},
	}
	for _, c := range cases {
		called = ""
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", c.path, nil))
		if called != c.want {
			t.Errorf("%s: routed to %q, want %q", c.path, called, c.want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope", nil))
	if rec.Code != 404 || rec.Body.String() != `{"detail":"Not Found"}` {
		t.Errorf("unknown path: %d %s", rec.Code, rec.Body)
	}
	// A route whose service is not mounted is a 404, not a panic.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/ai/models/", nil))
	if rec.Code != 404 {
		t.Errorf("unmounted service: %d", rec.Code)
	}
}

func TestCORS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	cases := []struct {
		name, allowed, origin, method string
		wantCode                      int
		wantOrigin                    string
	}{
		{"reflects any origin with *", "*", "http://localhost:5173", "GET", 200, "http://localhost:5173"},
		{"preflight answered 204", "*", "http://localhost:5173", "OPTIONS", 204, "http://localhost:5173"},
		{"listed origin", "http://a.example, http://b.example", "http://b.example", "GET", 200, "http://b.example"},
		{"unlisted origin gets no header", "http://a.example", "http://evil.example", "GET", 200, ""},
		{"no origin, no header", "*", "", "GET", 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := CORS(CORSConfig{AllowedOrigins: c.allowed, AllowCredentials: true}, ok)
			req := httptest.NewRequest(c.method, "/api/sqal/devices", nil)
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			if c.method == "OPTIONS" {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "content-type")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.wantCode {
				t.Errorf("code %d, want %d", rec.Code, c.wantCode)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != c.wantOrigin {
				t.Errorf("allow-origin %q, want %q", got, c.wantOrigin)
			}
			if c.method == "OPTIONS" && rec.Header().Get("Access-Control-Allow-Headers") != "content-type" {
				t.Errorf("preflight allow-headers %q", rec.Header().Get("Access-Control-Allow-Headers"))
			}
		})
	}
}

// TestCORSEnforceNoWildcardCredentials: enforce mode downgrades "*" with credentials
// to "*" without them; a listed origin keeps its credentials.
func TestCORSEnforceNoWildcardCredentials(t *testing.T) {
	tests := []struct {
		name, origins, mode string
		wantCreds           bool
	}{
		{"open wildcard", "*", "open", true},
		{"enforce wildcard", "*", "enforce", false},
		{"enforce listed origin", "http://localhost:5173", "enforce", true},
	}
	for _, tt := range tests {
		h := CORS(CORSConfig{AllowedOrigins: tt.origins, AllowCredentials: true, AuthMode: tt.mode},
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		req := httptest.NewRequest("GET", "/api/sqal/devices", nil)
		req.Header.Set("Origin", "http://localhost:5173")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("Access-Control-Allow-Credentials") == "true"
		if got != tt.wantCreds || rec.Header().Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
			t.Errorf("%s: credentials %v, origin %q", tt.name, got, rec.Header().Get("Access-Control-Allow-Origin"))
		}
	}
}
