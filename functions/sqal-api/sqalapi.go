// Package sqalapi is the SQAL quality read API: the 15 /api/sqal/* endpoints of the SQAL
// contract (§5), the dashboard overview with its legacy, camelCase and foie-gras keys
// (§6), the lot quality read used by the Gaveurs app (/api/lots/{lot_id}/qualite, §7.2),
// the legacy /health (§8), and the product's merged OpenAPI document and docs page.
//
// Every query runs in the organisation scope of its request (shared/tenant, row-level
// security of migration 00060): an organisation sees and changes only its own data.
//
// Aggregates are computed in SQL over the whole requested period (the legacy 10,000-row
// window is gone), mostly from the hourly rollup sqal_sample_hourly (migration 00040)
// plus the partial hours at the window edges, and cached in Redis under a generation
// that ingest bumps when a sample is stored (sqalread.BumpGeneration).
package sqalapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"

	"github.com/sqalfn/sqal/shared/cache"
	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/sqalread"
)

// Function is sqal-api's declaration for the runtime and functions-framework.
var Function = runtime.Function{
	Target:  "SqalAPI",
	Service: "sqal-api",
	Needs:   runtime.Needs{DB: true, Redis: true},
	HTTP:    setup,
}

func init() { runtime.Register(Function) }

// Config of sqal-api.
type Config struct {
	// CacheTTL bounds how long a cached aggregate may be served. Invalidation by
	// generation makes new samples visible at once; the TTL is the safety net when a
	// writer forgets to bump, and bounds the drift of "now"-relative windows.
	CacheTTL time.Duration `env:"SQAL_API_CACHE_TTL, default=10s"`
	// CacheTimeout caps each Redis call; past it the request is served from PostgreSQL.
	CacheTimeout time.Duration `env:"SQAL_API_CACHE_TIMEOUT, default=100ms"`
}

// API holds the dependencies of the handlers.
//
// Every handler reads and writes through db with the request's context, which carries
// the organisation scope the auth middleware resolved (tenant.From): row-level security
// then shows a request only its organisation's samples, devices, alerts, predictions and
// rollup rows, and a super_admin (tenant.All) every organisation's. An id of another
// organisation is therefore simply absent: 404 on detail routes and mutations.
type API struct {
	db        *database.DB
	cache     *aggregates
	predictor Predictor
	log       *slog.Logger
	now       func() time.Time
}

// Options configure New beyond the runtime environment (tests, the ML engineer's model).
type Options struct {
	Redis     redis.UniversalClient // nil: no cache (every request reads PostgreSQL)
	Meter     metric.Meter          // unused (the read cache counts under shared/cache's scope)
	Logger    *slog.Logger
	Predictor Predictor // nil: MVPPredictor (copies the sample's fusion score and grade)
	Now       func() time.Time
	Config    Config
}

func setup(ctx context.Context, env *runtime.Env) (http.Handler, error) {
	var cfg Config
	if err := config.Load(ctx, env.Lookup, &cfg); err != nil {
		return nil, fmt.Errorf("sqal-api config: %w", err)
	}
	return New(env.DB, Options{Redis: env.Redis, Meter: env.Meter, Logger: env.Logger, Config: cfg,
		Predictor: NewMLPredictor(env.DB, env.Logger)})
}

// New builds the sqal-api handler. Requests must carry an organisation scope
// (tenant.With; the auth middleware sets it): without one they see no data.
func New(db *database.DB, o Options) (http.Handler, error) {
	if db == nil {
		return nil, errors.New("sqal-api: database pool required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Predictor == nil {
		o.Predictor = MVPPredictor{DB: db}
	}
	if o.Config.CacheTTL == 0 {
		o.Config.CacheTTL = 10 * time.Second
	}
	if o.Config.CacheTimeout == 0 {
		o.Config.CacheTimeout = 100 * time.Millisecond
	}
	// The cache counts under shared/cache's scope of the global meter provider, not
	// o.Meter: analysis-api counts the same cache ("sqal") under the same names, and two
	// scopes in one process (local runner) would make /metrics fail on duplicate series.
	c := cache.New(o.Redis, cache.Options{Name: sqalread.CacheName, OpTimeout: o.Config.CacheTimeout,
		Logger: o.Logger})
	a := &API{db: db, cache: &aggregates{c: c, ttl: o.Config.CacheTTL}, predictor: o.Predictor, log: o.Logger, now: o.Now}
	rt := httpapi.NewRouter()
	for _, r := range a.routes() {
		rt.Handle(r.Method+" "+r.Path, r.Handler)
	}
	return rt, nil
}

// route is one registered endpoint. The table is the single source of the mux
// registration and of the OpenAPI coverage test.
type route struct {
	Method  string
	Path    string // ServeMux pattern path, OpenAPI style {param}
	Handler http.Handler
}

func (a *API) routes() []route {
	h := func(m, p string, f http.HandlerFunc) route { return route{m, p, f} }
	return []route{
		h("GET", "/api/sqal/health", a.health),
		h("GET", "/api/sqal/devices", a.devices),
		h("GET", "/api/sqal/devices/{device_id}", a.device),
		h("GET", "/api/sqal/samples/latest", a.latestSample),
		h("GET", "/api/sqal/samples", a.samples),
		h("POST", "/api/sqal/predict", a.predict),
		h("POST", "/api/sqal/alerts", a.createAlert),
		h("GET", "/api/sqal/stats/hourly", a.hourlyStats),
		h("GET", "/api/sqal/stats/sites", a.siteStats),
		h("GET", "/api/sqal/stats/grade-distribution", a.gradeDistribution),
		h("GET", "/api/sqal/alerts", a.alerts),
		h("POST", "/api/sqal/alerts/{alert_id}/acknowledge", a.acknowledge),
		h("GET", "/api/sqal/dashboard/overview", a.overview),
		h("GET", "/api/sqal/integration/lot/{lot_id}", a.lotQuality),
		h("GET", "/api/sqal/integration/lots-aggregated", a.lotsAggregated),
		h("GET", "/api/lots/{lot_id}/qualite", a.lotQualite),
		h("GET", "/openapi.json", a.openAPI),
		h("GET", "/docs", a.docs),
	}
}

// fail answers a handler error in the legacy shape. Database failures are 500 with the
// message (contract §5.1: never an empty 200 or a false 404).
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se *httpapi.StatusError
	var ve *httpapi.ValidationError
	if errors.As(err, &se) || errors.As(err, &ve) {
		httpapi.Fail(w, r, err)
		return
	}
	a.log.ErrorContext(r.Context(), "sqal-api request failed", "path", r.URL.Path, "error", err)
	httpapi.Detail(w, http.StatusInternalServerError, err.Error())
}
