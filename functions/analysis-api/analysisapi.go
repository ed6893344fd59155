// Package analysisapi serves the read endpoints of the former target API (backend_new)
// that the legacy SQAL dashboard was written against (backend-new-contract §1–§2):
//
//   - /api/analysis/*  history (filters, real paging), one analysis, stats, grade
//     distribution, timeseries, trends, compare;
//   - /api/sensors/*   ToF and spectral reads, fusion results, the device registry
//     (read and update);
//   - /api/dashboard/* the dashboard counters, the foie-gras metric blocks and the
//     foie-gras alerts list;
//   - /api/export/samples the CSV/JSON export.
//
// Every query runs in the organisation scope of its request (shared/tenant, row-level
// security of migration 00060): an organisation sees and changes only its own data.
//
// Every aggregate is computed in SQL over the whole requested period (never over a
// capped row sample) and cached in Redis under the SQAL data generation, so a newly
// stored sample invalidates it at once; with Redis down the endpoints still answer from
// the database. Errors keep the former target's FastAPI shapes: {"detail": ...} (plus the
// same text under "message", which the dashboard's error helper reads) and the 422
// validation list. Both spellings of every path, with and without the trailing slash,
// are served by the same handler without a redirect (§0.3).
package analysisapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/runtime"
)

// Function is the analysis-api function.
var Function = runtime.Function{
	Target:  "AnalysisAPI",
	Service: "analysis-api",
	Needs:   runtime.Needs{DB: true, Redis: true},
	HTTP:    setup,
}

func init() { runtime.Register(Function) }

// Config is the function's own configuration (the runtime reads the shared server,
// database and Redis settings).
type Config struct {
	// StatsCacheTTL bounds how long an aggregate over a fixed or open-ended period is
	// kept; a stored sample invalidates it sooner by bumping the data generation.
	StatsCacheTTL time.Duration `env:"ANALYSIS_STATS_CACHE_TTL, default=5m"`
	// LiveCacheTTL is for aggregates over windows that slide with the clock (today,
	// last 24 h, last hour): they change without any new sample, so the TTL is short.
	LiveCacheTTL time.Duration `env:"ANALYSIS_LIVE_CACHE_TTL, default=10s"`
	// DeviceOnlineWindow is how recently a device must have been seen to be "online"
	// (heartbeat every 30 s, samples every 20–45 s).
	DeviceOnlineWindow time.Duration `env:"DEVICE_ONLINE_WINDOW, default=90s"`
}

func setup(ctx context.Context, env *runtime.Env) (http.Handler, error) {
	if env.DB == nil {
		return nil, errors.New("analysis-api: database pool required")
	}
	var cfg Config
	if err := config.Load(ctx, env.Lookup, &cfg); err != nil {
		return nil, fmt.Errorf("analysis-api: %w", err)
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return New(env.DB, env.Redis, env.Meter, cfg, logger), nil
}

// Server holds the dependencies of the handlers.
//
// Every handler queries db with its request's context, which carries the organisation
// scope the auth middleware resolved (tenant.From): row-level security shows a request
// only its organisation's samples, devices and rollup rows (a super_admin's, every
// organisation's), so another organisation's device or analysis is a 404 and its
// device cannot be updated.
type Server struct {
	db     *database.DB
	cache  *aggregateCache
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
}

// New returns the function's handler. rdb may be nil (no cache). The meter is not used:
// the read cache counts under shared/cache's scope of the global provider (see
// newAggregateCache); the parameter stays for the callers.
func New(db *database.DB, rdb redis.UniversalClient, _ metric.Meter, cfg Config, logger *slog.Logger) http.Handler {
	s := &Server{db: db, cfg: cfg, logger: logger, now: time.Now}
	s.cache = newAggregateCache(rdb, logger)
	return s.routes()
}

// route is one operation of the function; openapi.yaml documents exactly these.
type route struct {
	Method, Path string
	handler      func(*Server, http.ResponseWriter, *http.Request)
}

// routeTable lists every operation, by its path without the trailing slash (the router
// serves the slash form too).
func routeTable() []route {
	return []route{
		{"GET", "/api/analysis/history", (*Server).history},
		{"GET", "/api/analysis/history/{analysis_id}", (*Server).analysis},
		{"GET", "/api/analysis/stats", (*Server).stats},
		{"GET", "/api/analysis/grade-distribution", (*Server).gradeDistribution},
		{"GET", "/api/analysis/timeseries", (*Server).timeseries},
		{"GET", "/api/analysis/trends/{device_id}", (*Server).trends},
		{"GET", "/api/analysis/compare", (*Server).compare},

		{"GET", "/api/sensors/vl53l8ch/raw", (*Server).tofRaw},
		{"GET", "/api/sensors/vl53l8ch/analysis", (*Server).tofAnalysis},
		{"GET", "/api/sensors/as7341/raw", (*Server).spectralRaw},
		{"GET", "/api/sensors/as7341/analysis", (*Server).spectralAnalysis},
		{"GET", "/api/sensors/fusion", (*Server).fusion},
		{"GET", "/api/sensors/devices", (*Server).devices},
		{"GET", "/api/sensors/devices/{device_id}", (*Server).device},
		{"PATCH", "/api/sensors/devices/{device_id}", (*Server).updateDevice},

		{"GET", "/api/dashboard/metrics", (*Server).dashboardMetrics},
		{"GET", "/api/dashboard/foie-gras-metrics", (*Server).foieGrasMetrics},
		{"GET", "/api/dashboard/foie-gras-alerts", (*Server).foieGrasAlerts},

		{"GET", "/api/export/samples", (*Server).export},
	}
}

func (s *Server) routes() http.Handler {
	rt := httpapi.NewRouter()
	rt.Slash = httpapi.SlashServe // both spellings, no redirect (§0.3)
	for _, r := range routeTable() {
		h := r.handler
		rt.HandleFunc(r.Method+" "+r.Path, func(w http.ResponseWriter, req *http.Request) { h(s, w, req) })
	}
	return rt
}

// fail answers err in the former target's shape: a validation error as FastAPI's 422
// list, a status error with its message, anything else as a logged 500 whose cause is
// not sent. Messages go under "detail" and, for the dashboard's error helper, "message".
func fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *httpapi.ValidationError
	var se *httpapi.StatusError
	switch {
	case errors.As(err, &ve):
		httpapi.Fail(w, r, err)
	case errors.As(err, &se) && se.Status < 500:
		detail(w, se.Status, se.Msg)
	default:
		status, msg := http.StatusInternalServerError, "Internal Server Error"
		if se != nil {
			status, msg = se.Status, se.Msg
		}
		slog.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "status", status, "error", err)
		detail(w, status, msg)
	}
}

// detail writes {"detail": msg, "message": msg}.
func detail(w http.ResponseWriter, status int, msg string) {
	httpapi.JSON(w, status, map[string]string{"detail": msg, "message": msg})
}
