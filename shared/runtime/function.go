// Package runtime serves one SQAL function: it loads configuration, wires only the
// dependencies the function declares, and serves the function's handler from its own
// http.Server with health, metrics, tracing and graceful shutdown.
//
// A function package declares itself once with a Function value and registers it in
// init() with Register (so it is a valid functions-framework function); its cmd/ main
// calls Main with the same value, and the local all-in-one runner calls Handler for every
// function and mounts the handlers behind one origin (NewEnv, Env.For, Handler,
// WithProbes, Serve).
package runtime

import (
	"context"
	"log/slog"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/health"
	"github.com/sqalfn/sqal/shared/telemetry"
)

// Needs lists the dependencies a function wants; setup opens only these.
type Needs struct {
	DB     bool // PostgreSQL pool (DATABASE_URL)
	Redis  bool // Redis client (REDIS_URL)
	Events bool // CloudEvents publisher towards the broker (K_SINK / BROKER_URL, shared/events)
	// Outbox: the function writes events into the transactional outbox (shared/events).
	// Main then relays the outbox to the broker in the background while the process runs
	// (woken by the commit's notification), so events leave within milliseconds; the
	// relay function's PingSource is only the safety net for functions scaled to zero.
	// Implies DB and Events.
	Outbox bool
}

// Env is what a function's setup receives. Fields the function did not ask for are nil.
type Env struct {
	Service string // Knative service name, e.g. "sqal-api"
	Logger  *slog.Logger
	// DB applies the organisation scope of each context to its statements (row-level
	// security); DB.Pool is the raw pool for what is not tenant data.
	DB        *database.DB
	Redis     redis.UniversalClient
	Publisher Publisher
	Meter     metric.Meter
	Tracer    trace.Tracer
	// Lookup reads configuration for the function's own config struct
	// (go-envconfig lookuper: the process environment, or a map in tests).
	Lookup Lookuper
	// Health is the process's dependency-check registry: a function may Add its own
	// checks (e.g. a model store) and read Details for its own health endpoint.
	Health *health.Registry
	// Telemetry owns the providers and the /metrics registry.
	Telemetry *telemetry.Telemetry
	// Config is the runtime configuration the Env was built from.
	Config Config
}

// Publisher sends CloudEvents to the broker. Implemented in shared/events.
type Publisher interface {
	Publish(ctx context.Context, e cloudevents.Event) error
}

// Lookuper is the go-envconfig lookuper interface, repeated here so that
// function packages do not import go-envconfig just to pass it around.
type Lookuper interface {
	Lookup(key string) (string, bool)
}

// HTTPSetup builds an HTTP function's handler.
type HTTPSetup func(ctx context.Context, env *Env) (http.Handler, error)

// EventHandler handles one CloudEvent. Return events.Permanent(err) for bad data
// (answered 4xx, not retried) and any other error for transient failures (5xx, retried).
type EventHandler func(ctx context.Context, e cloudevents.Event) error

// EventSetup builds a CloudEvent function's handler.
type EventSetup func(ctx context.Context, env *Env) (EventHandler, error)

// Function describes one SQAL function. Exactly one of HTTP and Event is set.
type Function struct {
	Target  string // functions-framework name / FUNCTION_TARGET, e.g. "SqalAPI"
	Service string // Knative Service name and default K_SERVICE, e.g. "sqal-api"
	Needs   Needs
	HTTP    HTTPSetup
	Event   EventSetup
}
