// Package aiapi serves /api/ai/* (backend-new contract §1.2 AI, §2.1–2.4): the model
// registry (list, detail, activate, deactivate, rollback), training jobs (POST creates a
// job and emits sqal.training.requested through the outbox; GET shows its progress),
// stored predictions, on-demand prediction, metrics for the monitoring page, datasets,
// and operator labels (the training label that overrides the device's fusion grade).
//
// Shapes are the dashboard's: camelCase keys, list objects keyed by resource, both
// trailing-slash spellings served, errors as {"detail", "message"}.
package aiapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/runtime"
)

// Function is the AI API.
var Function = runtime.Function{
	Target:  "AIAPI",
	Service: "ai-api",
	Needs:   runtime.Needs{DB: true, Outbox: true},
	HTTP:    setup,
}

func init() { runtime.Register(Function) }

// Config is read from the environment.
type Config struct {
	// ModelRefresh bounds how stale the model used by POST /api/ai/predict/ may be.
	ModelRefresh time.Duration `env:"AI_API_MODEL_REFRESH, default=30s"`
}

func setup(ctx context.Context, env *runtime.Env) (http.Handler, error) {
	var cfg Config
	if err := config.Load(ctx, env.Lookup, &cfg); err != nil {
		return nil, fmt.Errorf("ai-api: %w", err)
	}
	return New(env.DB, cfg, env.Logger)
}

// API holds the handlers' dependencies.
type API struct {
	db  *database.DB
	reg *ml.Registry
	svc *ml.Service
	log *slog.Logger
	now func() time.Time
}

type route struct {
	Method, Path string
	Handler      http.HandlerFunc
}

func (a *API) routes() []route {
	return []route{
		{"GET", "/api/ai/models", a.listModels},
		{"GET", "/api/ai/models/{id}", a.getModel},
		{"POST", "/api/ai/models/{id}/activate", a.activate},
		{"POST", "/api/ai/models/{id}/deactivate", a.deactivate},
		{"POST", "/api/ai/models/{id}/rollback", a.rollback},
		{"GET", "/api/ai/training", a.listJobs},
		{"POST", "/api/ai/training", a.createJob},
		{"GET", "/api/ai/training/{id}", a.getJob},
		{"GET", "/api/ai/predictions", a.listPredictions},
		{"POST", "/api/ai/predict", a.predict},
		{"GET", "/api/ai/metrics", a.metrics},
		{"GET", "/api/ai/datasets", a.listDatasets},
		{"POST", "/api/ai/labels", a.putLabel},
	}
}

// New builds the handler.
//
// Organisations: every statement goes through db in the scope the auth middleware put
// in the request context. Predictions, operator labels and the samples they name are
// tenant data: a request sees and changes its organisation's rows only (another
// organisation's sample is "not found"). The model registry, training jobs and datasets
// are global: one quality model for every organisation.
func New(db *database.DB, cfg Config, logger *slog.Logger) (http.Handler, error) {
	if db == nil {
		return nil, errors.New("ai-api: database pool required")
	}
	if logger == nil {
		logger = slog.Default()
	}
	reg := &ml.Registry{DB: db, Store: ml.PGStore{DB: db}, Outbox: events.AddToOutbox, Source: ml.SourceAIAPI}
	a := &API{db: db, reg: reg, log: logger, now: time.Now,
		svc: &ml.Service{Registry: reg, Logger: logger, TTL: cfg.ModelRefresh, Source: ml.SourceAIAPI}}
	rt := httpapi.NewRouter()
	rt.Slash = httpapi.SlashStrict
	for _, r := range a.routes() {
		rt.Handle(r.Method+" "+r.Path, r.Handler)
	}
	// backend-new §0.3: both spellings of every path, no redirect. Routes are declared
	// without the trailing slash and a request's is dropped before routing (ServeMux
	// would otherwise redirect or treat "x/" as a prefix).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = strings.TrimRight(p, "/"), ""
			r = r2
		}
		rt.ServeHTTP(w, r)
	}), nil
}

// detail answers the backend-new error body: FastAPI's detail plus message (§0.3).
func detail(w http.ResponseWriter, status int, msg string) {
	httpapi.JSON(w, status, map[string]string{"detail": msg, "message": msg})
}

// fail answers err: validation errors as FastAPI 422, the rest logged and 500.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *httpapi.ValidationError
	var se *httpapi.StatusError
	switch {
	case errors.As(err, &ve):
		httpapi.JSON(w, http.StatusUnprocessableEntity, ve)
	case errors.As(err, &se):
		detail(w, se.Status, se.Msg)
	default:
		a.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
		detail(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// record appends an audit row for a change of the registry or a training request; a
// failure is logged, not answered (the change is done).
func (a *API) record(r *http.Request, action, resourceType, resourceID, details, failure string) {
	e := audit.FromRequest(r, action, resourceType, resourceID)
	e.Details, e.Status = details, "success"
	if failure != "" {
		e.Status, e.ErrorMessage = "failed", failure
	}
	if err := audit.Record(r.Context(), a.db, e); err != nil {
		a.log.ErrorContext(r.Context(), "audit record failed", "action", action, "resource", resourceType, "err", err)
	}
}

// page reads bn's skip/limit and the recommended page/page_size (§2.0); limit is clamped
// to 1..500.
func page(w http.ResponseWriter, r *http.Request, defLimit int) (skip, limit int, ok bool) {
	p := httpapi.Params(r)
	skip = p.Query("skip").Int(0, httpapi.Ge(0))
	limit = p.Query("limit").Int(defLimit)
	pg := p.Query("page").OptInt(httpapi.Ge(1))
	size := p.Query("page_size").OptInt(httpapi.Ge(1))
	if !p.Check(w) {
		return 0, 0, false
	}
	if size != nil {
		limit = *size
	}
	limit = min(max(limit, 1), 500)
	if pg != nil {
		skip = (*pg - 1) * limit
	}
	return skip, limit, true
}
