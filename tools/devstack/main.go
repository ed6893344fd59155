// Command devstack is `make run`: the whole SQAL system in one process on one origin
// (http://localhost:8000 by default). It starts a throwaway PostgreSQL and Redis on free
// ports unless DATABASE_URL / REDIS_URL are given, applies the migrations, serves every
// function behind the same route table the cluster gateway uses, delivers CloudEvents
// through a local bus that applies the Knative Trigger files of knative/, and relays the
// transactional outbox to that bus. Ctrl-C stops everything, servers included.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/sethvargo/go-envconfig"

	"github.com/sqalfn/sqal/shared/edge"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/events/localbus"
	"github.com/sqalfn/sqal/shared/localstack"
	"github.com/sqalfn/sqal/shared/migrate"
	"github.com/sqalfn/sqal/shared/ratelimit"
	"github.com/sqalfn/sqal/shared/routes"
	"github.com/sqalfn/sqal/shared/runtime"
)

// Config is what the runner itself reads; the functions read their own variables.
type Config struct {
	// DataDir keeps the local PostgreSQL cluster between runs (git-ignored).
	DataDir string `env:"DEVSTACK_DIR, default=.local/devstack"`
	// Fresh wipes the local cluster before starting.
	Fresh bool `env:"DEVSTACK_FRESH, default=false"`
	// Simulator starts the bundled station simulator against the stack.
	Simulator bool `env:"SIMULATOR, default=false"`
	// SimulatorArgs are extra flags for it (e.g. "-devices 3 -rate 2").
	SimulatorArgs string `env:"SIMULATOR_ARGS"`
	// TriggersDir holds the Knative Trigger files the local bus applies; empty means
	// knative/triggers of the repository.
	TriggersDir string `env:"DEVSTACK_TRIGGERS_DIR"`
	Relay       events.RelayConfig
	CORS        edge.CORSConfig
	RateLimit   edge.RateLimitConfig
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	context.AfterFunc(ctx, stop) // a second Ctrl-C kills at once
	if err := realMain(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	// The local stack listens on 8000 unless PORT says otherwise: legacy clients expect
	// http://localhost:8000. Functions in a cluster default to 8080 (Knative sets PORT).
	if os.Getenv("PORT") == "" {
		os.Setenv("PORT", "8000")
	}
	// One server carries every function here, so its body limit must fit the largest
	// upload any of them accepts (ingest batches, firmware images); each function still
	// applies its own, smaller limit.
	if os.Getenv("HTTP_MAX_BODY_BYTES") == "" {
		os.Setenv("HTTP_MAX_BODY_BYTES", "67108864")
	}
	var cfg Config
	if err := envconfig.Process(ctx, &cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	rcfg, err := runtime.LoadConfig(ctx, nil)
	if err != nil {
		return err
	}
	devIssuerDefaults(&rcfg)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "devstack")
	root, err := repoRoot()
	if err != nil {
		return err
	}

	// Servers.
	ownStack := rcfg.Database.URL == ""
	if ownStack {
		dir := filepath.Join(root, cfg.DataDir, "postgres")
		if cfg.Fresh {
			_ = os.RemoveAll(dir)
		}
		log.Info("starting PostgreSQL", "dir", dir)
		pg, err := localstack.StartPostgres(ctx, localstack.PostgresOptions{Dir: dir})
		if err != nil {
			return fmt.Errorf("start PostgreSQL (set DATABASE_URL to use an existing server): %w", err)
		}
		defer pg.Stop()
		if err := ensureDatabase(ctx, pg, "sqal"); err != nil {
			return err
		}
		rcfg.Database.URL = pg.URL("sqal")
	}
	if rcfg.Redis.URL == "" && len(rcfg.Redis.Addrs) == 0 {
		log.Info("starting Redis")
		rd, err := localstack.StartRedis(ctx, localstack.RedisOptions{})
		if err != nil {
			return fmt.Errorf("start Redis (set REDIS_URL to use an existing server): %w", err)
		}
		defer rd.Stop()
		if rd.InProcess() {
			log.Warn("redis-server not found: using an in-process Redis")
		}
		rcfg.Redis.URL = rd.URL()
	}
	if err := migrate.Up(ctx, rcfg.Database.URL, migrate.WithLogger(log)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if ownStack {
		// The functions connect as the application role, as in the cluster, so row-level
		// security isolates organisations here too (the local server trusts local
		// connections: no password). With DATABASE_URL given, that URL is used as is.
		if rcfg.Database.URL, err = migrate.LocalAppURL(ctx, rcfg.Database.URL); err != nil {
			return err
		}
	}

	// One set of dependencies shared by every function of the process.
	env, closeEnv, err := runtime.NewEnv(ctx, rcfg, "sqal-local", runtime.Needs{DB: true, Redis: true})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = closeEnv(cctx)
	}()
	healthCtx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHealth()
	env.Health.Start(healthCtx)

	// The bus is built after the handlers, but the functions need their publisher now:
	// hand them a forwarder to it.
	var bus *localbus.Bus
	env.Publisher = events.SenderFunc(func(ctx context.Context, e cloudevents.Event) error {
		return bus.Publish(ctx, e)
	})

	handlers := map[string]http.Handler{}
	for _, fn := range functions {
		h, err := runtime.Handler(ctx, fn, env.For(fn.Service))
		if err != nil {
			return err
		}
		handlers[fn.Service] = h
	}

	triggersDir := cfg.TriggersDir
	if triggersDir == "" {
		triggersDir = filepath.Join(root, "knative", "triggers")
	}
	triggers, err := localbus.LoadTriggers(triggersDir)
	if err != nil {
		return fmt.Errorf("load triggers: %w", err)
	}
	bus, err = localbus.New(localbus.Options{Triggers: triggers, Handlers: handlers, DB: env.DB.Pool, Logger: env.Logger.With("component", "localbus")})
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = bus.Close(cctx)
	}()
	log.Info("event bus ready", "subscriptions", bus.Subscriptions())

	relay := events.NewRelay(env.DB.Pool, bus, cfg.Relay, env.Logger.With("component", "relay"))
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(relayCtx) }()
	defer func() {
		stopRelay()
		if err := <-relayDone; err != nil && !errors.Is(err, context.Canceled) {
			log.Error("relay stopped", "error", err)
		}
	}()

	limiter := ratelimit.New(env.Redis, ratelimit.Options{Prefix: "sqal:edge:", Logger: env.Logger})
	router, err := withDevIssuer(edge.RateLimit(cfg.RateLimit, limiter, edge.Router(routes.Default(), handlers)), rcfg.Auth, log)
	if err != nil {
		return err
	}
	public := edge.SecurityHeaders(edge.CORS(cfg.CORS, router))
	env.Health.MarkStarted()
	context.AfterFunc(ctx, env.Health.MarkShuttingDown)

	if cfg.Simulator {
		go runSimulator(ctx, root, rcfg.Server.Port, cfg.SimulatorArgs, log)
	}
	log.Info("SQAL functions ready", "url", "http://localhost:"+rcfg.Server.Port,
		"functions", len(functions), "auth_mode", rcfg.Auth.Mode, "database", rcfg.Database, "redis", rcfg.Redis)
	return runtime.Serve(ctx, rcfg.Server, runtime.WithProbes(env, public))
}

// repoRoot finds the repository by walking up to go.work, so the runner works from
// any folder of the checkout.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found: run devstack from the repository")
		}
		dir = parent
	}
}
