package edge

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/sqalfn/sqal/shared/health"
	"github.com/sqalfn/sqal/shared/ratelimit"
)

// RateLimitConfig configures the entry point's request budgets, shared by every
// instance of the entry point through Redis (GCRA, shared/ratelimit).
//
// Two budgets apply to each request: one per client address and, when the request
// carries a Bearer token, one per client (the token's hash: the entry point does not
// verify tokens, the functions do). Both must allow the request. The defaults sit well
// above the dashboard's polling (38 requests/min per tab, backend-new §0.3).
//
// When Redis is down each instance falls back to its own in-memory limiter with the
// same budgets (shared/ratelimit): limits stay on, per instance, rather than failing
// open entirely or taking the API down with Redis.
//
// Stations are not limited here: /ws/sensors/ and /api/ingest/ carry a device key
// and ingest limits each device itself (INGEST_DEVICE_RATE).
type RateLimitConfig struct {
	Enabled          bool `env:"EDGE_RATE_LIMIT, default=true"`
	AddressPerMinute int  `env:"EDGE_RATE_LIMIT_ADDRESS_PER_MINUTE, default=1200"`
	ClientPerMinute  int  `env:"EDGE_RATE_LIMIT_CLIENT_PER_MINUTE, default=600"`
	// TrustedProxyHops is how many proxies in front of the entry point append to
	// X-Forwarded-For (e.g. 2 behind an Envoy ingress and Knative's queue-proxy). The
	// client address is then the entry that many places from the right; what a client
	// wrote itself further left is ignored. 0 (default): the peer address.
	TrustedProxyHops int `env:"EDGE_TRUSTED_PROXY_HOPS, default=0"`
}

// clientAddr is the address a request's budget is keyed by.
func clientAddr(r *http.Request, hops int) string {
	if hops > 0 {
		var parts []string
		for _, h := range r.Header.Values("X-Forwarded-For") {
			for _, p := range strings.Split(h, ",") {
				if p = strings.TrimSpace(p); p != "" {
					parts = append(parts, p)
				}
			}
		}
		if len(parts) >= hops {
			return parts[len(parts)-hops]
		}
	}
	return ratelimit.ByRemoteAddr(r)
}

// rateExempt are paths never limited: probes, metrics and the stations' paths.
func rateExempt(path string) bool {
	if path == "/metrics" || strings.HasPrefix(path, "/ws/sensors") || strings.HasPrefix(path, "/api/ingest/") {
		return true
	}
	for _, p := range health.Paths {
		if path == p {
			return true
		}
	}
	return false
}

// RateLimit applies cfg's budgets in front of next with limiter l (nil or disabled:
// next unchanged). A refused request gets 429 with Retry-After, RateLimit-* headers
// and {"detail": "Rate limit exceeded", "retry_after_seconds": n}.
func RateLimit(cfg RateLimitConfig, l *ratelimit.Limiter, next http.Handler) http.Handler {
	if !cfg.Enabled || l == nil {
		return next
	}
	addrLimit := ratelimit.PerMinute(cfg.AddressPerMinute)
	clientLimit := ratelimit.PerMinute(cfg.ClientPerMinute)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions || rateExempt(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		res := l.Allow(r.Context(), "addr:"+clientAddr(r, cfg.TrustedProxyHops), addrLimit)
		if res.Allowed {
			if client := clientKey(r); client != "" {
				res = l.Allow(r.Context(), "client:"+client, clientLimit)
			}
		}
		if !res.Allowed {
			ratelimit.WriteLimited(w, res)
			return
		}
		ratelimit.SetHeaders(w, res)
		next.ServeHTTP(w, r)
	})
}

// clientKey identifies the client of a token-bearing request without keeping the
// token: a truncated SHA-256 of it.
func clientKey(r *http.Request) string {
	tok := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		tok = strings.TrimSpace(h[7:])
	}
	if tok == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:12])
}
