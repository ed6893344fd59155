// Package edge holds what the product's single public entry point (the cluster gateway
// and the local all-in-one runner) does before a request reaches a function: path
// routing with the route table, the legacy 404 shape, CORS and security headers.
package edge

import (
	"net/http"
	"strings"

	"github.com/sqalfn/sqal/shared/routes"
)

// CORSConfig configures cross-origin access. The legacy dashboards run on another origin
// (Vite on :5173, nginx on :3000) and call http://localhost:8000 anonymously, so the local
// stack reflects any origin; a cluster in enforce mode lists its origins instead.
type CORSConfig struct {
	// AllowedOrigins: "*" reflects any request origin (legacy behaviour); otherwise a
	// comma-separated list of exact origins.
	AllowedOrigins string `env:"CORS_ALLOWED_ORIGINS, default=*"`
	// AllowCredentials adds Access-Control-Allow-Credentials: true.
	AllowCredentials bool `env:"CORS_ALLOW_CREDENTIALS, default=true"`
	// AuthMode is the product's AUTH_MODE. In enforce mode a wildcard origin never
	// gets credentials: any site could otherwise make the browser send its cookies
	// (the API authenticates with Bearer tokens, which credentials do not carry).
	AuthMode string `env:"AUTH_MODE, default=open"`
}

// credentials reports whether Access-Control-Allow-Credentials may be sent.
func (c CORSConfig) credentials() bool {
	return c.AllowCredentials && !(c.AuthMode == "enforce" && c.Wildcard())
}

// allows reports whether origin may call the API.
func (c CORSConfig) allows(origin string) bool {
	for _, o := range strings.Split(c.AllowedOrigins, ",") {
		o = strings.TrimSpace(o)
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// Wildcard reports whether any origin is accepted.
func (c CORSConfig) Wildcard() bool {
	for _, o := range strings.Split(c.AllowedOrigins, ",") {
		if strings.TrimSpace(o) == "*" {
			return true
		}
	}
	return false
}

// CORS answers preflights with 204 and adds the CORS response headers for allowed origins.
// The request origin is reflected (never "*") so credentials keep working.
func CORS(cfg CORSConfig, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !cfg.allows(origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if cfg.credentials() {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		h.Set("Access-Control-Expose-Headers", "X-Request-ID, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, Content-Disposition")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			} else {
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SecurityHeaders sets conservative response headers on every answer. They cost nothing
// for the JSON API and the WebSockets, and the /docs page needs no external resource.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// NotFound answers like the legacy backend (FastAPI) for an unknown path.
func NotFound(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"detail":"Not Found"}`))
}

// Router dispatches each request to the handler of the service the route table names.
// Services without a handler (not deployed, or not mounted locally) answer 404 too,
// like a path the legacy backend never had.
func Router(table routes.Table, services map[string]http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := services[table.Match(r.URL.Path)]; ok {
			h.ServeHTTP(w, r)
			return
		}
		NotFound(w, r)
	})
}
