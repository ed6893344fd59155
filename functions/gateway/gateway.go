// Package gateway is the product's single public entry point in a cluster: Knative routes
// by host, legacy clients expect one origin (http://localhost:8000) for /api/* and /ws/*,
// so the gateway proxies each request to the function the shared route table names.
// The local all-in-one runner mounts the same table in-process instead of proxying.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/sqalfn/sqal/shared/edge"
	"github.com/sqalfn/sqal/shared/ratelimit"
	"github.com/sqalfn/sqal/shared/routes"
	"github.com/sqalfn/sqal/shared/runtime"
)

// Function is the gateway's declaration for the runtime and functions-framework.
var Function = runtime.Function{
	Target:  "Gateway",
	Service: "gateway",
	// Redis holds the request budgets shared by every gateway instance; when it is
	// unreachable the limiter falls back to per-instance budgets (shared/ratelimit).
	Needs: runtime.Needs{Redis: true},
	HTTP:  setup,
}

func init() { runtime.Register(Function) }

// Config of the gateway.
type Config struct {
	// ServiceURLTemplate gives the address of a function; {service} and {namespace} are
	// replaced. Knative creates a cluster-local host name per Service.
	ServiceURLTemplate string `env:"GATEWAY_SERVICE_URL_TEMPLATE, default=http://{service}.{namespace}.svc.cluster.local"`
	Namespace          string `env:"GATEWAY_NAMESPACE, default=sqal"`
	// ServiceURLs overrides the template for some services ("ingest=http://127.0.0.1:9001,
	// alerts=..."): where the functions do not share one naming scheme, as in the
	// multi-process rehearsal of the cluster (tools/rehearsal), one port per function.
	ServiceURLs map[string]string `env:"GATEWAY_SERVICE_URLS, separator=="`
	CORS        edge.CORSConfig
	RateLimit   edge.RateLimitConfig
}

func setup(ctx context.Context, env *runtime.Env) (http.Handler, error) {
	var cfg Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: env.Lookup}); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	return New(cfg, routes.Default(), env.Logger,
		ratelimit.New(env.Redis, ratelimit.Options{Prefix: "sqal:edge:", Logger: env.Logger}))
}

// New builds the proxying router for a route table. With a limiter, cfg.RateLimit's
// budgets apply (inside CORS, so that a browser can read a 429).
func New(cfg Config, table routes.Table, logger *slog.Logger, limiter ...*ratelimit.Limiter) (http.Handler, error) {
	if logger == nil {
		logger = slog.Default()
	}
	services := map[string]http.Handler{}
	for _, svc := range table.Services() {
		raw := strings.NewReplacer("{service}", svc, "{namespace}", cfg.Namespace).Replace(cfg.ServiceURLTemplate)
		if u, ok := cfg.ServiceURLs[svc]; ok {
			raw = u
		}
		target, err := url.Parse(raw)
		if err != nil || target.Scheme == "" || target.Host == "" {
			return nil, fmt.Errorf("gateway: bad URL %q for service %s", raw, svc)
		}
		services[svc] = proxyTo(svc, target, logger)
	}
	var h http.Handler = edge.Router(table, services)
	if len(limiter) > 0 {
		h = edge.RateLimit(cfg.RateLimit, limiter[0], h)
	}
	return edge.SecurityHeaders(edge.CORS(cfg.CORS, h)), nil
}

// proxyTo forwards requests (WebSocket upgrades included: httputil.ReverseProxy
// switches protocols itself) to one function, keeping path and query.
func proxyTo(service string, target *url.URL, logger *slog.Logger) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host // Knative's ingress routes on the Host header
			pr.SetXForwarded()
		},
		// Stream responses as they come (exports, long polls); WebSockets are
		// unaffected either way.
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.ErrorContext(r.Context(), "proxy failed", "service", service, "path", r.URL.Path, "error", err)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			status := http.StatusBadGateway
			if r.Context().Err() != nil {
				status = http.StatusGatewayTimeout
			}
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, `{"detail":"service %s unavailable"}`, service)
		},
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			// A proxied WebSocket lasts until one side closes it, and the runtime waits
			// for it on SIGTERM until the shutdown grace expires (exit 1, a killed pod).
			// ReverseProxy closes both ends when the request's context ends: end it when
			// shutdown starts, so the client reconnects (to another pod) at once.
			ctx, cancel := runtime.ShutdownContext(r.Context())
			defer cancel()
			r = r.WithContext(ctx)
		}
		rp.ServeHTTP(w, r)
	})
}
