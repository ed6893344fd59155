package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sqalfn/sqal/shared/auth"
	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// Handler runs fn's setup with env and returns its handler wrapped in the runtime
// middleware (request id, tracing, metrics, access log, panic recovery; plus
// auth.NewMiddleware for HTTP functions). For a CloudEvent function the handler is
// the CloudEvents HTTP receiver (EventHTTPHandler). Probes are not included (see
// WithProbes).
func Handler(ctx context.Context, fn Function, env *Env) (http.Handler, error) {
	if err := fn.validate(); err != nil {
		return nil, err
	}
	var h http.Handler
	if fn.HTTP != nil {
		fh, err := fn.HTTP(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("set up %s: %w", fn.Target, err)
		}
		authMW, err := auth.NewMiddleware(ctx, env.Config.Auth, env.Logger, auth.WithDB(env.DB))
		if err != nil {
			return nil, fmt.Errorf("set up auth for %s: %w", fn.Target, err)
		}
		h = authMW(fh)
	} else {
		eh, err := fn.Event(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("set up %s: %w", fn.Target, err)
		}
		h = EventHTTPHandler(eh, env.Tracer, env.Logger)
	}
	mw, err := Middleware(env)
	if err != nil {
		return nil, err
	}
	return mw(h), nil
}

func (fn Function) validate() error {
	switch {
	case fn.Target == "":
		return errors.New("function has no Target")
	case (fn.HTTP == nil) == (fn.Event == nil):
		return fmt.Errorf("function %s: exactly one of HTTP and Event must be set", fn.Target)
	}
	return nil
}

// CheckTarget enforces functions-framework's FUNCTION_TARGET semantics for a binary
// that serves one function: unset or equal to fn.Target is fine, anything else is a
// deployment mistake that must fail at start.
func CheckTarget(functionTarget string, fn Function) error {
	if functionTarget != "" && functionTarget != fn.Target {
		return fmt.Errorf("FUNCTION_TARGET=%q, but this binary serves function %q", functionTarget, fn.Target)
	}
	return nil
}

// Main serves fn as a process: it exits 0 after a graceful shutdown on SIGTERM or
// SIGINT and 1 when start-up or serving fails. A second signal kills at once.
func Main(fn Function) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	// After the first signal, restore default handling so a second one kills.
	context.AfterFunc(ctx, stop)
	err := realMain(ctx, fn)
	stop()
	if err != nil {
		slog.Error("function failed", "function", fn.Target, "error", err)
		fmt.Fprintf(os.Stderr, "%s: %v\n", fn.Target, err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, fn Function) error {
	cfg, err := LoadConfig(ctx, nil)
	if err != nil {
		return err
	}
	if err := CheckTarget(cfg.Knative.FunctionTarget, fn); err != nil {
		return err
	}
	service := cfg.Knative.Service
	if service == "" {
		service = fn.Service
	}
	env, closeEnv, err := NewEnv(ctx, cfg, service, fn.Needs)
	if err != nil {
		return err
	}
	defer func() {
		// Runs after the drain: flush telemetry, close pools. Bounded so a dead
		// collector cannot hold the exit.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := closeEnv(cctx); err != nil {
			env.Logger.Error("closing dependencies", "error", err)
		}
	}()

	healthCtx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHealth()
	env.Health.Start(healthCtx)

	h, err := Handler(ctx, fn, env)
	if err != nil {
		return err
	}
	if fn.Needs.Outbox && env.Publisher != nil {
		stopRelay, err := startRelay(ctx, env)
		if err != nil {
			return err
		}
		// Deferred after closeEnv's defer, so it runs first: the relay stops (finishing
		// the batch it is sending) before the pool closes.
		defer stopRelay()
	}
	env.Health.MarkStarted()
	context.AfterFunc(ctx, env.Health.MarkShuttingDown)
	env.Logger.Info("function started", "function", fn.Target, "revision", cfg.Knative.Revision,
		"port", cfg.Server.Port, "needs", fmt.Sprintf("%+v", fn.Needs), "auth_mode", cfg.Auth.Mode)
	return Serve(ctx, cfg.Server, WithProbes(env, h))
}

// startRelay runs the outbox relay of a producing function until the returned stop
// function is called (after the server drained, so events written by the last requests
// are still sent when the broker is up; whatever is left stays in the outbox).
func startRelay(ctx context.Context, env *Env) (stop func(), err error) {
	var cfg events.RelayConfig
	if err := config.Load(ctx, nil, &cfg); err != nil {
		return nil, fmt.Errorf("outbox relay config: %w", err)
	}
	relay := events.NewRelay(env.DB.Pool, env.Publisher, cfg, env.Logger.With("component", "outbox-relay"))
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := relay.Run(rctx); err != nil && rctx.Err() == nil {
			env.Logger.Error("outbox relay stopped", "error", err)
		}
	}()
	return func() {
		// Give the relay one short moment to send what the drained requests wrote.
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer dcancel()
		if _, err := relay.RunOnce(dctx); err != nil {
			env.Logger.Warn("final outbox relay", "error", err)
		}
		cancel()
		<-done
	}, nil
}

var registered sync.Map // target -> struct{}

// Register registers fn with functions-framework-go under fn.Target, so the function
// package is a valid function for any functions-framework runtime. The handler is
// lazy: the first request loads the configuration from the environment, opens what
// fn.Needs asks for and runs the setup; a failed setup answers 500 and is retried on
// the next request. Registering the same target twice is a no-op. Call it from the
// function package's init().
func Register(fn Function) {
	if err := fn.validate(); err != nil {
		panic(err)
	}
	if _, dup := registered.LoadOrStore(fn.Target, struct{}{}); dup {
		return
	}
	lf := &lazyFunction{fn: fn}
	if fn.HTTP != nil {
		functions.HTTP(fn.Target, lf.serveHTTP)
	} else {
		functions.CloudEvent(fn.Target, lf.receive)
	}
}

type lazyFunction struct {
	fn Function

	mu      sync.Mutex
	http    http.Handler
	event   EventHandler
	started bool
}

func (l *lazyFunction) init(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return nil
	}
	// The process lives as long as the framework serves it: setup must not be bound
	// to the first request's context.
	ctx = context.WithoutCancel(ctx)
	cfg, err := LoadConfig(ctx, nil)
	if err != nil {
		return err
	}
	service := cfg.Knative.Service
	if service == "" {
		service = l.fn.Service
	}
	env, _, err := NewEnv(ctx, cfg, service, l.fn.Needs)
	if err != nil {
		return err
	}
	env.Health.Start(ctx)
	env.Health.MarkStarted()
	if l.fn.HTTP != nil {
		h, err := Handler(ctx, l.fn, env)
		if err != nil {
			return err
		}
		l.http = h
	} else {
		eh, err := l.fn.Event(ctx, env)
		if err != nil {
			return fmt.Errorf("set up %s: %w", l.fn.Target, err)
		}
		l.event = eh
	}
	l.started = true
	return nil
}

func (l *lazyFunction) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if err := l.init(r.Context()); err != nil {
		slog.Error("function setup failed", "function", l.fn.Target, "error", err)
		httpapi.Detail(w, http.StatusInternalServerError, "function setup failed")
		return
	}
	l.http.ServeHTTP(w, r)
}

func (l *lazyFunction) receive(ctx context.Context, e cloudevents.Event) error {
	if err := l.init(ctx); err != nil {
		slog.Error("function setup failed", "function", l.fn.Target, "error", err)
		return fmt.Errorf("function setup failed: %w", err)
	}
	return cloudEventResult(l.event(ctx, e))
}
