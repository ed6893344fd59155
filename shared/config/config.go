// Package config holds the configuration structs shared by every SQAL function and the
// helpers that load them from the environment with go-envconfig.
//
// A function composes its own config struct from these (embedding or named fields, with
// `env:",prefix=..."` where two instances must coexist) and loads it with Load. Values
// that can carry secrets (DATABASE_URL, REDIS_URL, passwords) are redacted by the
// String/LogValue methods, so logging a config struct never leaks them.
package config

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sethvargo/go-envconfig"
)

// Lookuper reads one variable; envconfig.OsLookuper and envconfig.MapLookuper satisfy it.
type Lookuper = envconfig.Lookuper

// Load fills target (a pointer to a struct with `env` tags) from l, or from the process
// environment when l is nil.
func Load(ctx context.Context, l Lookuper, target any) error {
	if l == nil {
		l = envconfig.OsLookuper()
	}
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: target, Lookuper: l}); err != nil {
		return fmt.Errorf("load configuration: %w", err)
	}
	return nil
}

// MapLookuper returns a Lookuper over a fixed map (tests, the local runner).
func MapLookuper(m map[string]string) Lookuper { return envconfig.MapLookuper(m) }

// Server configures the HTTP server a function is served from.
type Server struct {
	Port string `env:"PORT, default=8080"`
	// ReadHeaderTimeout bounds slow-loris clients; ReadTimeout covers the whole request body.
	ReadHeaderTimeout time.Duration `env:"HTTP_READ_HEADER_TIMEOUT, default=10s"`
	ReadTimeout       time.Duration `env:"HTTP_READ_TIMEOUT, default=30s"`
	// WriteTimeout bounds one response; WebSocket upgrades are exempt (see runtime).
	WriteTimeout time.Duration `env:"HTTP_WRITE_TIMEOUT, default=60s"`
	IdleTimeout  time.Duration `env:"HTTP_IDLE_TIMEOUT, default=120s"`
	// MaxBodyBytes caps request bodies (a full simulator frame is about 140 KB).
	MaxBodyBytes int64 `env:"HTTP_MAX_BODY_BYTES, default=4194304"`
	// ShutdownGrace is how long in-flight requests may run after SIGTERM.
	ShutdownGrace time.Duration `env:"SHUTDOWN_GRACE, default=25s"`
}

// Addr is the listen address ":PORT".
func (s Server) Addr() string { return ":" + s.Port }

// Database configures the pgx pool. Size it like the Knative containerConcurrency of the
// function, not like pgx's default (max(4, NumCPU)): the sum over functions of
// max-scale x MaxConns must stay under PostgreSQL max_connections.
type Database struct {
	URL               string        `env:"DATABASE_URL"`
	MaxConns          int32         `env:"DB_MAX_CONNS, default=10"`
	MinConns          int32         `env:"DB_MIN_CONNS, default=0"`
	MaxConnIdleTime   time.Duration `env:"DB_MAX_CONN_IDLE_TIME, default=1m"`
	MaxConnLifetime   time.Duration `env:"DB_MAX_CONN_LIFETIME, default=30m"`
	HealthCheckPeriod time.Duration `env:"DB_HEALTH_CHECK_PERIOD, default=30s"`
	ConnectTimeout    time.Duration `env:"DB_CONNECT_TIMEOUT, default=5s"`
	// ExecMode is pgx's QueryExecMode: cache_statement (default), cache_describe,
	// describe_exec, exec or simple_protocol (the last two work behind PgBouncer in
	// transaction mode).
	ExecMode string `env:"DB_EXEC_MODE, default=cache_statement"`
}

// String redacts the password of the URL.
func (d Database) String() string {
	return fmt.Sprintf("Database{URL:%s MaxConns:%d MinConns:%d}", Redact(d.URL), d.MaxConns, d.MinConns)
}

// LogValue keeps secrets out of structured logs.
func (d Database) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", Redact(d.URL)), slog.Int("max_conns", int(d.MaxConns)),
		slog.Int("min_conns", int(d.MinConns)), slog.String("exec_mode", d.ExecMode))
}

// Redis configures the go-redis client: REDIS_ADDRS (comma separated) selects cluster
// mode, otherwise REDIS_URL is a single node (redis://[:password@]host:port/db).
type Redis struct {
	URL      string   `env:"REDIS_URL"`
	Addrs    []string `env:"REDIS_ADDRS"`
	Password string   `env:"REDIS_PASSWORD"`
	// Timeouts are short: Redis is a cache and a rate limiter, and every caller fails
	// open, so waiting long on a dead Redis only adds latency.
	DialTimeout  time.Duration `env:"REDIS_DIAL_TIMEOUT, default=2s"`
	ReadTimeout  time.Duration `env:"REDIS_READ_TIMEOUT, default=500ms"`
	WriteTimeout time.Duration `env:"REDIS_WRITE_TIMEOUT, default=500ms"`
	PoolSize     int           `env:"REDIS_POOL_SIZE, default=20"`
}

// Enabled reports whether any Redis address is configured.
func (r Redis) Enabled() bool { return r.URL != "" || len(r.Addrs) > 0 }

// String redacts passwords.
func (r Redis) String() string {
	pw := ""
	if r.Password != "" {
		pw = " Password:" + redacted
	}
	return fmt.Sprintf("Redis{URL:%s Addrs:%v%s PoolSize:%d}", Redact(r.URL), r.Addrs, pw, r.PoolSize)
}

// LogValue keeps secrets out of structured logs.
func (r Redis) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", Redact(r.URL)), slog.Any("addrs", r.Addrs),
		slog.Bool("password_set", r.Password != ""), slog.Int("pool_size", r.PoolSize))
}

// Telemetry configures logs, metrics and traces. Traces are exported over OTLP/HTTP
// only when an endpoint is set; the exporter itself also honours the standard
// OTEL_EXPORTER_OTLP_[TRACES_]* variables (headers, timeout, compression,
// certificates; the scheme of the endpoint chooses TLS).
type Telemetry struct {
	OTLPEndpoint       string  `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	OTLPTracesEndpoint string  `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"`
	SampleRatio        float64 `env:"OTEL_TRACES_SAMPLER_ARG, default=1"`
	LogLevel           string  `env:"LOG_LEVEL, default=info"`
}

// TracingEnabled reports whether spans are exported.
func (t Telemetry) TracingEnabled() bool { return t.OTLPEndpoint != "" || t.OTLPTracesEndpoint != "" }

// Knative holds what Knative Serving and functions-framework set for a container.
type Knative struct {
	Service        string `env:"K_SERVICE"`
	Revision       string `env:"K_REVISION"`
	Configuration  string `env:"K_CONFIGURATION"`
	FunctionTarget string `env:"FUNCTION_TARGET"`
}

// Health configures the background dependency checks behind readiness.
type Health struct {
	// Interval between two rounds of checks: readiness reflects a dependency outage
	// within this delay and never calls the dependency itself.
	Interval time.Duration `env:"HEALTH_CHECK_INTERVAL, default=5s"`
	Timeout  time.Duration `env:"HEALTH_CHECK_TIMEOUT, default=2s"`
}
