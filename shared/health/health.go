// Package health runs a function's dependency checks (database ping, Redis ping) in the
// background on an interval and serves their cached results: liveness, readiness and
// startup probes, and the legacy /health and /health/* JSON shapes of the contracts.
// Probes never call a dependency themselves, so a probe storm cannot hammer PostgreSQL
// or Redis, and a dead dependency cannot make a probe hang.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sqalfn/sqal/shared/config"
)

// Check probes one dependency; it must honour ctx (the registry bounds it with a timeout).
type Check func(ctx context.Context) error

// Check statuses, as the bn readiness contract names them.
const (
	StatusReady    = "ready"
	StatusNotReady = "not_ready"
	StatusDegraded = "degraded" // answered, but slower than SlowThreshold
	StatusTimeout  = "timeout"
	StatusError    = "error"
)

// SlowThreshold is the latency above which a successful check reports "degraded".
const SlowThreshold = time.Second

// Result is the last outcome of one check.
type Result struct {
	Name      string
	Status    string
	Message   string
	Latency   time.Duration
	CheckedAt time.Time
	Err       error
	// Critical checks make the whole readiness not_ready when they fail; the others
	// (the cache: every caller fails open) only make it degraded.
	Critical bool
}

// OK reports whether the dependency answered (possibly slowly).
func (r Result) OK() bool { return r.Status == StatusReady || r.Status == StatusDegraded }

type check struct {
	name     string
	critical bool
	fn       Check
}

// Registry holds the checks, their cached results and the process lifecycle state.
type Registry struct {
	Service  string
	AuthMode string // reported by /health (AUTH_MODE)
	// RowSecurity is reported by /health: "enforced" when the database role is subject
	// to row-level security, "bypassed" when it is a superuser or BYPASSRLS (organisations
	// are then not isolated), empty without a database.
	RowSecurity string

	interval time.Duration
	timeout  time.Duration
	logger   *slog.Logger

	mu      sync.RWMutex
	checks  []check
	results map[string]Result

	createdAt    time.Time
	startedAt    atomic.Pointer[time.Time]
	shuttingDown atomic.Bool
	roundDone    chan struct{} // closed after the first full round
	roundOnce    sync.Once
}

// New returns an empty registry; a zero interval or timeout takes the defaults 5 s / 2 s.
func New(cfg config.Health, logger *slog.Logger) *Registry {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Registry{
		AuthMode:  "open",
		interval:  cfg.Interval,
		timeout:   cfg.Timeout,
		logger:    logger,
		results:   map[string]Result{},
		createdAt: time.Now(),
		roundDone: make(chan struct{}),
	}
}

// Add registers a check. Use the names "database" and "cache" for PostgreSQL and Redis:
// the legacy shapes report them under those keys.
func (r *Registry) Add(name string, critical bool, fn Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, check{name: name, critical: critical, fn: fn})
}

// Run checks every dependency at once, then every interval, until ctx ends.
func (r *Registry) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.CheckNow(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Start runs Run in a goroutine.
func (r *Registry) Start(ctx context.Context) { go r.Run(ctx) }

// CheckNow runs every check once (concurrently, each bounded by the timeout) and
// stores the results.
func (r *Registry) CheckNow(ctx context.Context) {
	r.mu.RLock()
	checks := append([]check(nil), r.checks...)
	r.mu.RUnlock()
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := r.run(ctx, c)
			r.mu.Lock()
			prev, had := r.results[c.name]
			r.results[c.name] = res
			r.mu.Unlock()
			if had && prev.OK() != res.OK() || !had && !res.OK() {
				// Log transitions only: a dependency down for an hour is one line, not 720.
				if res.OK() {
					r.logger.Info("dependency recovered", "check", c.name)
				} else {
					r.logger.Warn("dependency check failing", "check", c.name, "status", res.Status, "error", res.Err)
				}
			}
		}()
	}
	wg.Wait()
	r.roundOnce.Do(func() { close(r.roundDone) })
}

func (r *Registry) run(ctx context.Context, c check) (res Result) {
	res = Result{Name: c.name, Critical: c.critical}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- c.fn(cctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-cctx.Done(): // a check that ignores its context still cannot block the round
		err = cctx.Err()
	}
	res.Latency = time.Since(start)
	res.CheckedAt = time.Now()
	res.Err = err
	switch {
	case err == nil && res.Latency > SlowThreshold:
		res.Status, res.Message = StatusDegraded, fmt.Sprintf("%s check slow (%d ms)", c.name, res.Latency.Milliseconds())
	case err == nil:
		res.Status, res.Message = StatusReady, c.name+" connection healthy"
	case errors.Is(err, context.DeadlineExceeded):
		res.Status, res.Message = StatusTimeout, fmt.Sprintf("%s check timed out after %s", c.name, r.timeout)
	default:
		res.Status, res.Message = StatusNotReady, err.Error()
	}
	return res
}

// WaitFirstRound blocks until every check ran once or ctx ends.
func (r *Registry) WaitFirstRound(ctx context.Context) error {
	select {
	case <-r.roundDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MarkStarted records that setup finished: startup becomes "started".
func (r *Registry) MarkStarted() {
	now := time.Now()
	r.startedAt.CompareAndSwap(nil, &now)
}

// MarkShuttingDown flips liveness to unhealthy and readiness to not_ready.
func (r *Registry) MarkShuttingDown() { r.shuttingDown.Store(true) }

// ShuttingDown reports whether MarkShuttingDown was called.
func (r *Registry) ShuttingDown() bool { return r.shuttingDown.Load() }

// Started reports whether MarkStarted was called.
func (r *Registry) Started() bool { return r.startedAt.Load() != nil }

// Results returns the cached results sorted by name.
func (r *Registry) Results() []Result {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Result, 0, len(r.results))
	for _, res := range r.results {
		out = append(out, res)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Result returns the cached result of one check.
func (r *Registry) Result(name string) (Result, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	res, ok := r.results[name]
	return res, ok
}

// Readiness is the overall readiness status: not_ready when starting, shutting down or
// a critical check fails (or has not run yet), degraded when a non-critical check fails
// or any check is slow, ready otherwise.
func (r *Registry) Readiness() string {
	if !r.Started() || r.ShuttingDown() {
		return StatusNotReady
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	status := StatusReady
	for _, c := range r.checks {
		res, ok := r.results[c.name]
		switch {
		case !ok || !res.OK():
			if c.critical {
				return StatusNotReady
			}
			status = StatusDegraded
		case res.Status == StatusDegraded:
			status = StatusDegraded
		}
	}
	return status
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }
