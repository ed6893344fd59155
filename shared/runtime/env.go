package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/auth"
	"github.com/sqalfn/sqal/shared/cache"
	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/health"
	"github.com/sqalfn/sqal/shared/resilience"
	"github.com/sqalfn/sqal/shared/telemetry"
)

// Config is everything the runtime reads from the environment. A function's own
// config struct is loaded separately from Env.Lookup.
type Config struct {
	Server    config.Server
	Database  config.Database
	Redis     config.Redis
	Telemetry config.Telemetry
	Knative   config.Knative
	Health    config.Health
	Auth      auth.Config
	Events    events.PublisherConfig
}

// LoadConfig reads Config from l (nil = the process environment).
func LoadConfig(ctx context.Context, l Lookuper) (Config, error) {
	var cfg Config
	var lk config.Lookuper
	if l != nil {
		lk = l
	}
	if err := config.Load(ctx, lk, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// osLookuper reads the process environment.
type osLookuper struct{}

func (osLookuper) Lookup(key string) (string, bool) { return os.LookupEnv(key) }

// NewEnv builds the Env of a service: logger, telemetry (installed as the process's
// OpenTelemetry globals), the health registry, and only the dependencies needs asks
// for (DB pool pinged at start, Redis client, event publisher). The returned close
// function flushes telemetry and closes what was opened; call it once, after the
// server drained. The health registry is not started: call env.Health.Start.
func NewEnv(ctx context.Context, cfg Config, service string, needs Needs) (_ *Env, closeEnv func(context.Context) error, err error) {
	if service == "" {
		service = "sqal"
	}
	logger := telemetry.NewLogger(os.Stdout, telemetry.ParseLevel(cfg.Telemetry.LogLevel), service)
	tel, err := telemetry.Setup(ctx, cfg.Telemetry, telemetry.Service{Name: service, Revision: cfg.Knative.Revision}, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("set up telemetry: %w", err)
	}
	env := &Env{
		Service:   service,
		Logger:    logger,
		Meter:     tel.MeterProvider.Meter("github.com/sqalfn/sqal/" + service),
		Tracer:    tel.TracerProvider.Tracer("github.com/sqalfn/sqal/" + service),
		Lookup:    osLookuper{},
		Health:    health.New(cfg.Health, logger),
		Telemetry: tel,
		Config:    cfg,
	}
	env.Health.Service = service
	env.Health.AuthMode = cfg.Auth.Mode

	var closers []func(context.Context) error
	// cleanup, not the named result: a failing return sets closeEnv to nil before the
	// deferred cleanup below runs.
	cleanup := func(ctx context.Context) error {
		var errs []error
		// Flush telemetry first (it may still export spans about the requests just
		// drained), then close the pools in reverse order of opening.
		if err := tel.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		for i := len(closers) - 1; i >= 0; i-- {
			if err := closers[i](ctx); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			_ = cleanup(context.WithoutCancel(ctx))
		}
	}()

	if needs.Outbox {
		needs.DB = true
		// The relay needs a broker; without one (a test, a misconfigured pod) the
		// events wait in the outbox for the relay function, so this is not fatal.
		if cfg.Events.Target() != "" {
			needs.Events = true
		} else {
			logger.Warn("no broker address (K_SINK / BROKER_URL): outbox events wait for the relay function")
		}
	}
	if needs.DB {
		// A few attempts smooth over a database that starts at the same time as the
		// function (a fresh cluster, the laptop stack); configuration mistakes fail at once.
		pool, err := resilience.Retry(ctx, resilience.Policy{MaxAttempts: 3, InitialInterval: time.Second,
			Retryable: func(err error) bool {
				return !errors.Is(err, database.ErrNotConfigured) && !errors.Is(err, database.ErrInvalidConfig)
			},
			OnRetry: func(err error, wait time.Duration) {
				logger.Warn("database not reachable yet, retrying", "error", err, "wait", wait.String())
			},
		}, func(ctx context.Context) (*pgxpool.Pool, error) { return database.Open(ctx, cfg.Database) })
		if err != nil {
			return nil, nil, fmt.Errorf("open database: %w", err)
		}
		closers = append(closers, func(context.Context) error { pool.Close(); logger.Info("database pool closed"); return nil })
		env.DB = database.NewDB(pool)
		if _, err := database.RegisterMetrics(env.Meter, pool, service); err != nil {
			return nil, nil, err
		}
		env.Health.Add("database", true, database.Check(pool))
		rls, err := database.RowSecurity(ctx, pool)
		if err != nil {
			return nil, nil, err
		}
		env.Health.RowSecurity = rls
		logger.Info("database connected", "database", cfg.Database, "row_level_security", rls)
		if rls != "enforced" {
			logger.Warn("the database role bypasses row-level security: organisations are not isolated; connect as sqal_app (migration 00060)")
		}
	}
	if needs.Redis {
		rdb, err := cache.NewClient(cfg.Redis)
		if err != nil {
			return nil, nil, fmt.Errorf("open redis: %w", err)
		}
		closers = append(closers, func(context.Context) error { return rdb.Close() })
		env.Redis = rdb
		if _, err := cache.RegisterPoolMetrics(env.Meter, rdb, service); err != nil {
			return nil, nil, err
		}
		// Redis is a cache and a rate limiter: every caller fails open, so an
		// unreachable Redis degrades readiness but does not stop the function.
		env.Health.Add("cache", false, cache.Check(rdb))
		if err := cache.Ping(ctx, rdb, cfg.Redis.DialTimeout+time.Second); err != nil {
			logger.Warn("redis unreachable at start, continuing without it", "redis", cfg.Redis, "error", err)
		} else {
			logger.Info("redis connected", "redis", cfg.Redis)
		}
	}
	if needs.Events {
		pub, err := events.NewPublisher(ctx, cfg.Events)
		if err != nil {
			return nil, nil, fmt.Errorf("create event publisher: %w", err)
		}
		env.Publisher = pub
	}
	return env, cleanup, nil
}

// For returns a copy of e for another service sharing the same process and
// dependencies (the local all-in-one runner): its logger, meter and tracer are named
// after service.
func (e *Env) For(service string) *Env {
	c := *e
	c.Service = service
	c.Logger = telemetry.NewLogger(os.Stdout, telemetry.ParseLevel(e.Config.Telemetry.LogLevel), service)
	c.Meter = e.Telemetry.MeterProvider.Meter("github.com/sqalfn/sqal/" + service)
	c.Tracer = e.Telemetry.TracerProvider.Tracer("github.com/sqalfn/sqal/" + service)
	return &c
}
