package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/health"
)

type shutdownKey struct{}

// ShuttingDown returns a channel closed when the server serving ctx's request starts
// shutting down. Long-lived handlers (WebSockets, streams) that hijacked or hold their
// connection must watch it: send their goodbye frame, close, and return within the
// shutdown grace. Normal requests need not: they finish as usual. Outside Serve the
// channel is nil (never closes).
func ShuttingDown(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(shutdownKey{}).(<-chan struct{})
	return ch
}

// ShutdownContext returns a context derived from ctx that is also cancelled when the
// server starts shutting down: the convenient form of ShuttingDown for a WebSocket
// loop that already selects on a context.
func ShutdownContext(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(ctx)
	if ch := ShuttingDown(ctx); ch != nil {
		go func() { // ends with the request or the shutdown, whichever comes first
			select {
			case <-ch:
				cancel()
			case <-sctx.Done():
			}
		}()
	}
	return sctx, cancel
}

// isUpgrade reports a protocol upgrade (WebSocket) request.
func isUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// Serve listens on cfg.Port and serves h until ctx ends, then shuts down gracefully
// (see ServeListener).
func Serve(ctx context.Context, cfg config.Server, h http.Handler) error {
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr(), err)
	}
	return ServeListener(ctx, cfg, ln, h)
}

// ServeListener serves h on ln with the server's timeouts and body limit until ctx
// ends. Then it stops accepting, lets in-flight requests finish within
// cfg.ShutdownGrace, signals long-lived handlers through ShuttingDown and waits for
// them within the same grace. It returns nil after a clean drain and an error when
// the grace ran out with requests still running (they are cut).
//
// WebSocket upgrade requests get neither the write timeout nor the body limit: both
// would kill a long-lived socket. Their read and write deadlines are cleared before
// the handler runs (net/http clears them again on Hijack; clearing early also covers
// whatever the handler does before upgrading); the handler owns the connection's
// liveness (pings).
func ServeListener(ctx context.Context, cfg config.Server, ln net.Listener, h http.Handler) error {
	logger := slog.Default()
	shutdownCh := make(chan struct{})
	var inflight sync.WaitGroup
	var active atomic.Int64

	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		active.Add(1)
		defer func() { active.Add(-1); inflight.Done() }()
		if isUpgrade(r) {
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
		} else if cfg.MaxBodyBytes > 0 && r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, cfg.MaxBodyBytes)
		}
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Handler:           wrapped,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		BaseContext: func(net.Listener) context.Context {
			// Not derived from ctx: cancelling ctx (SIGTERM) must not cancel the
			// in-flight requests we are about to drain.
			return context.WithValue(context.Background(), shutdownKey{}, (<-chan struct{})(shutdownCh))
		},
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	var closeOnce sync.Once
	srv.RegisterOnShutdown(func() { closeOnce.Do(func() { close(shutdownCh) }) })

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("serving", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	start := time.Now()
	logger.Info("graceful shutdown initiated", "in_flight", active.Load(), "grace", cfg.ShutdownGrace.String())
	grace := cfg.ShutdownGrace
	if grace <= 0 {
		grace = 25 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx) // stops accepting, waits for non-hijacked requests

	// Hijacked connections (WebSockets) are not tracked by Shutdown: wait for their
	// handlers, which were told through ShuttingDown, within what is left of the grace.
	done := make(chan struct{})
	go func() { inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
	}
	if n := active.Load(); n > 0 || shutdownErr != nil {
		_ = srv.Close()
		logger.Error("graceful shutdown grace expired", "still_running", n, "error", shutdownErr)
		return fmt.Errorf("shutdown grace %s expired with %d requests running", grace, n)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("graceful shutdown complete", "took_ms", time.Since(start).Milliseconds())
	return nil
}

// WithProbes mounts, next to h (served at every other path), the health endpoints of
// env.Health (see health.Registry.Mount) and GET /metrics. These are not wrapped by
// the request middleware: probes and scrapes stay out of the request metrics, the
// access log and auth.
func WithProbes(env *Env, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	env.Health.Mount(mux)
	mux.Handle("GET /metrics", env.Telemetry.MetricsHandler())
	mux.Handle("/", h)
	return mux
}

// ProbePaths are the paths WithProbes serves itself.
func ProbePaths() []string { return append(append([]string(nil), health.Paths...), "/metrics") }
