// Package predict is the predict step. It scores every stored sample with the active
// quality model and keeps the prediction with its explanation (consumer of
// sqal.sample.stored, producer of sqal.prediction.created through the outbox), refreshes
// its cached model on sqal.model.activated, and serves the Open Inference Protocol v2
// REST API (KServe v2) so standard inference clients can call the same models.
//
// It is an HTTP function because it serves both: CloudEvents arrive at "/" (binary or
// structured mode, as Knative's Broker delivers them) and /v2/* is the inference API.
//
// Idempotency: one prediction per (sample, model, version), enforced by a unique index;
// the row and its event commit together, so a redelivered event changes nothing and
// emits nothing.
package predict

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/tenant"
)

// Function is the predict step.
var Function = runtime.Function{
	Target:  "Predict",
	Service: "predict",
	Needs:   runtime.Needs{DB: true, Outbox: true},
	HTTP:    setup,
}

func init() { runtime.Register(Function) }

// Config is read from the environment.
type Config struct {
	// Models are the registry names every stored sample is scored with.
	Models []string `env:"PREDICT_MODELS, default=sqal-quality"`
	// RefreshInterval bounds how stale the cached active version may be: the Broker
	// delivers sqal.model.activated to one pod only, so every pod also re-checks.
	RefreshInterval time.Duration `env:"PREDICT_MODEL_REFRESH, default=30s"`
}

func setup(ctx context.Context, env *runtime.Env) (http.Handler, error) {
	var cfg Config
	if err := config.Load(ctx, env.Lookup, &cfg); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if env.DB == nil {
		return nil, errors.New("predict: database pool required")
	}
	return New(ctx, env.DB, cfg, env.Logger)
}

// Server is the predict step's handler.
type Server struct {
	cfg    Config
	svc    *ml.Service
	log    *slog.Logger
	models map[string]bool
	mux    *http.ServeMux
}

// New builds the handler and loads the configured models (a model that cannot be
// loaded yet leaves the server unready, not failed: readiness reports it).
//
// Organisations: the model registry is global (one model for every organisation); the
// samples read and the predictions written are tenant data, accessed through db in the
// scope of each request (the auth middleware's, for /v2/*) or event (its organizationid
// extension, for "/").
func New(ctx context.Context, db *database.DB, cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if len(cfg.Models) == 0 {
		cfg.Models = []string{ml.QualityModel}
	}
	reg := &ml.Registry{DB: db, Store: ml.PGStore{DB: db}, Outbox: events.AddToOutbox, Source: ml.SourcePredict}
	s := &Server{cfg: cfg, log: logger, models: map[string]bool{},
		svc: &ml.Service{Registry: reg, Logger: logger, TTL: cfg.RefreshInterval, Source: ml.SourcePredict}}
	for _, name := range cfg.Models {
		s.models[name] = true
		if err := s.svc.Refresh(ctx, name); err != nil {
			logger.WarnContext(ctx, "model not loaded at start", "model", name, "err", err)
		}
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.Method+" "+rt.Path, rt.Handler)
	}
	s.mux = mux
	return s, nil
}

// route is one registered endpoint. The table is the single source of the mux
// registration and of the OpenAPI coverage test.
type route struct {
	Method  string
	Path    string // ServeMux pattern path
	Handler http.HandlerFunc
}

// routes: the CloudEvent delivery ("/", inside the cluster only) and the Open Inference
// Protocol v2 (v2.go).
func (s *Server) routes() []route {
	return append([]route{{"POST", "/{$}", s.serveEvent}}, s.routesV2()...)
}

// Service exposes the prediction service (tests, the local runner).
func (s *Server) Service() *ml.Service { return s.svc }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// serveEvent receives one CloudEvent: 2xx when handled (or already handled), 400 for an
// event that can never succeed (Knative sends it to the dead-letter sink), 500 to be
// retried.
func (s *Server) serveEvent(w http.ResponseWriter, r *http.Request) {
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx := events.ContextWithTrace(r.Context(), *e)
	err = s.Handle(ctx, *e)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusAccepted)
	case events.IsPermanent(err):
		s.log.WarnContext(ctx, "event refused", "type", e.Type(), "id", e.ID(), "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		s.log.ErrorContext(ctx, "event failed, will be retried", "type", e.Type(), "id", e.ID(), "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// Handle processes one CloudEvent, in the organisation scope of the event (its
// organizationid extension; the default organisation without one): the sample is read
// and its prediction stored in that organisation only, and sqal.prediction.created
// carries it on.
func (s *Server) Handle(ctx context.Context, e cloudevents.Event) error {
	scope, err := events.OrganizationScope(e)
	if err != nil {
		return events.Permanent(fmt.Errorf("predict: %w", err))
	}
	ctx = tenant.With(ctx, scope)
	switch e.Type() {
	case sample.TypeStored:
		d, err := sample.DecodeStoredEvent(e.Data())
		if err != nil {
			return events.Permanent(fmt.Errorf("predict: decode %s event %s: %w", e.Type(), e.ID(), err))
		}
		if d.SampleID == "" {
			d.SampleID = e.ID() // the event id is the sample id
		}
		for _, name := range s.cfg.Models {
			site := ""
			if d.SiteCode != nil {
				site = *d.SiteCode
			}
			p, err := s.svc.PredictSampleAt(ctx, name, d.SampleID, "event", site)
			switch {
			case errors.Is(err, features.ErrSampleNotFound):
				return events.Permanent(err)
			case err != nil:
				return fmt.Errorf("predict sample %s with %s: %w", d.SampleID, name, err)
			}
			if p.Created {
				s.log.DebugContext(ctx, "prediction stored", "sample_id", d.SampleID, "model", name,
					"version", p.ModelVersion, "grade", p.Grade, "score", p.Score)
			}
		}
		return nil
	case ml.TypeModelActivated:
		var d ml.ModelEvent
		if err := json.Unmarshal(e.Data(), &d); err != nil {
			return events.Permanent(fmt.Errorf("predict: decode %s event %s: %w", e.Type(), e.ID(), err))
		}
		if !s.models[d.Name] {
			return nil // a model this service does not serve
		}
		// A refused version is logged and reported by readiness; the model in memory
		// keeps serving and retrying the event would not repair the artefact.
		if err := s.svc.Refresh(ctx, d.Name); err != nil && !errors.Is(err, ml.ErrCorruptArtefact) {
			return err
		}
		return nil
	}
	return events.Permanent(fmt.Errorf("predict: unexpected event type %q", e.Type()))
}
