package ratelimit

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// KeyFunc picks the rate-limit key of a request; "" means "do not limit".
type KeyFunc func(r *http.Request) string

// ByRemoteAddr keys by the peer's IP address (not its port: bn keyed by
// "host:port", so every new connection got a fresh budget).
func ByRemoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ByClientAddr keys by the first X-Forwarded-For address when present (set by the
// gateway and Knative's queue-proxy, behind which RemoteAddr is always the proxy),
// else by the peer address. Only use it behind a proxy that overwrites the header.
func ByClientAddr(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		if ip := strings.TrimSpace(first); ip != "" {
			return ip
		}
	}
	return ByRemoteAddr(r)
}

// ByHeader keys by a request header (a client id, an API key id), falling back to the
// client address when the header is absent.
func ByHeader(name string) KeyFunc {
	return func(r *http.Request) string {
		if v := r.Header.Get(name); v != "" {
			return name + ":" + v
		}
		return ByClientAddr(r)
	}
}

func ceilSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 0 {
		return 0
	}
	return s
}

// SetHeaders writes RateLimit-Limit/Remaining/Reset (IETF draft) and the
// X-RateLimit-* spellings bn recommended.
func SetHeaders(w http.ResponseWriter, res Result) {
	h := w.Header()
	limit, remaining, reset := strconv.Itoa(res.Limit.Rate), strconv.Itoa(max(res.Remaining, 0)), strconv.Itoa(ceilSeconds(res.ResetAfter))
	h.Set("RateLimit-Limit", limit)
	h.Set("RateLimit-Remaining", remaining)
	h.Set("RateLimit-Reset", reset)
	h.Set("X-RateLimit-Limit", limit)
	h.Set("X-RateLimit-Remaining", remaining)
	h.Set("X-RateLimit-Reset", reset)
}

// WriteLimited answers 429 with Retry-After and {"detail": "Rate limit exceeded",
// "retry_after_seconds": n}.
func WriteLimited(w http.ResponseWriter, res Result) {
	secs := max(ceilSeconds(res.RetryAfter), 1)
	SetHeaders(w, res)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	httpapi.JSON(w, http.StatusTooManyRequests, map[string]any{"detail": "Rate limit exceeded", "retry_after_seconds": secs})
}

// Middleware limits requests by key; paths in exempt (exact match, e.g. health and
// metrics) are never limited.
func (l *Limiter) Middleware(limit Limit, key KeyFunc, exempt ...string) func(http.Handler) http.Handler {
	skip := map[string]bool{}
	for _, p := range exempt {
		skip[p] = true
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if k == "" || skip[r.URL.Path] || r.Method == http.MethodOptions {
				next.ServeHTTP(w, r)
				return
			}
			res := l.Allow(r.Context(), k, limit)
			if !res.Allowed {
				WriteLimited(w, res)
				return
			}
			SetHeaders(w, res)
			next.ServeHTTP(w, r)
		})
	}
}
