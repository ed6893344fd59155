package httpapi

import (
	"context"
	"net/http"
	"strings"
)

// SlashPolicy says what a Router does with a path that only matches a route once a
// trailing slash is added or removed.
type SlashPolicy int

const (
	// SlashRedirect answers 307 to the other spelling, query kept (FastAPI's
	// redirect_slashes, required by the SQAL contract §0.2).
	SlashRedirect SlashPolicy = iota
	// SlashServe serves the other spelling directly, no redirect (backend-new §0.3).
	SlashServe
	// SlashStrict answers 404.
	SlashStrict
)

// Router is an http.ServeMux (Go 1.22 patterns: "GET /api/sqal/devices/{device_id}")
// that answers unknown paths with the legacy {"detail":"Not Found"}, wrong methods with
// {"detail":"Method Not Allowed"} plus Allow, handles trailing slashes by policy, and
// records the matched pattern for the runtime's metrics and access log.
type Router struct {
	mux   *http.ServeMux
	Slash SlashPolicy
}

// NewRouter returns a Router with the SlashRedirect policy.
func NewRouter() *Router { return &Router{mux: http.NewServeMux()} }

// Handle registers h for pattern.
func (rt *Router) Handle(pattern string, h http.Handler) { rt.mux.Handle(pattern, h) }

// HandleFunc registers h for pattern.
func (rt *Router) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	rt.mux.HandleFunc(pattern, h)
}

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := rt.mux.Handler(r); pattern != "" {
		RecordRoute(r.Context(), pattern)
		rt.mux.ServeHTTP(w, r)
		return
	}
	if rt.Slash != SlashStrict && r.URL.Path != "/" {
		alt := r.URL.Path + "/"
		if strings.HasSuffix(r.URL.Path, "/") {
			alt = strings.TrimSuffix(r.URL.Path, "/")
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = alt, ""
		if _, pattern := rt.mux.Handler(r2); pattern != "" {
			RecordRoute(r.Context(), pattern)
			if rt.Slash == SlashRedirect {
				RedirectPath(w, r, alt)
				return
			}
			rt.mux.ServeHTTP(w, r2)
			return
		}
	}
	RecordRoute(r.Context(), "unmatched")
	// Let the mux decide between 404 and 405 (it knows the Allow set) and rewrite its
	// plain-text answer into the legacy JSON shape.
	rt.mux.ServeHTTP(&legacyErrorWriter{ResponseWriter: w}, r)
}

// RedirectPath answers 307 to path, keeping the query string; 307 keeps the method
// and body, as FastAPI's slash redirect does.
func RedirectPath(w http.ResponseWriter, r *http.Request, path string) {
	target := path
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// RedirectTrailingSlash wraps next so that any path ending in '/' (other than "/")
// gets 307 to the path without it. Prefer Router, which only redirects when the other
// spelling is a route.
func RedirectTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			RedirectPath(w, r, strings.TrimRight(p, "/"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// legacyErrorWriter turns ServeMux's text/plain 404/405 into the legacy JSON bodies.
type legacyErrorWriter struct {
	http.ResponseWriter
	swallow bool
}

func (l *legacyErrorWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		l.swallow = true
		h := l.ResponseWriter.Header()
		h.Del("X-Content-Type-Options")
		msg := "Not Found"
		if code == http.StatusMethodNotAllowed {
			msg = "Method Not Allowed"
		}
		Detail(l.ResponseWriter, code, msg)
	default:
		l.ResponseWriter.WriteHeader(code)
	}
}

func (l *legacyErrorWriter) Write(b []byte) (int, error) {
	if l.swallow {
		return len(b), nil
	}
	return l.ResponseWriter.Write(b)
}

func (l *legacyErrorWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }

type routeKey struct{}

// routeSlot is filled by the innermost router and read by outer middleware, which
// cannot see the pattern on its own copy of the request.
type routeSlot struct{ pattern string }

// WithRouteSlot returns a context in which RecordRoute can store the matched route
// pattern, and a function that reads it (used by the runtime's metrics middleware).
func WithRouteSlot(ctx context.Context) (context.Context, func() string) {
	s := &routeSlot{}
	return context.WithValue(ctx, routeKey{}, s), func() string { return s.pattern }
}

// RecordRoute stores the matched route pattern for metrics and logs (bounded label
// cardinality: the template, not the raw path). No-op without WithRouteSlot.
func RecordRoute(ctx context.Context, pattern string) {
	if s, ok := ctx.Value(routeKey{}).(*routeSlot); ok {
		s.pattern = pattern
	}
}
