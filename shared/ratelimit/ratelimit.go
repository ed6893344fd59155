// Package ratelimit limits requests per client with GCRA in Redis (go-redis/redis_rate),
// so every instance of a function shares one budget per key.
//
// Policy when Redis is down: fail open to a per-instance in-memory GCRA with the same
// limit. Each instance then enforces the limit on its own share of the traffic, so a
// client spread over N instances may get up to N times its budget until Redis is
// back; that is preferred to refusing all traffic (the limit protects capacity, it is
// not a billing quota). After a few consecutive Redis failures a circuit breaker skips
// Redis for a few seconds, so a dead Redis costs no latency per request; failures are
// logged at most once per interval.
package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/resilience"
)

// Limit is a rate with a burst: Rate events per Period, at most Burst at once.
type Limit = redis_rate.Limit

// PerSecond, PerMinute and PerHour build limits whose burst equals the rate.
var (
	PerSecond = redis_rate.PerSecond
	PerMinute = redis_rate.PerMinute
	PerHour   = redis_rate.PerHour
)

// Result is the outcome of one Allow.
type Result struct {
	Allowed    bool
	Limit      Limit
	Remaining  int
	RetryAfter time.Duration // when denied: wait before the next allowed event
	ResetAfter time.Duration // time until the bucket is full again
	// Local is true when Redis was unavailable and the per-instance fallback decided.
	Local bool
}

// Options configure a Limiter.
type Options struct {
	// Prefix namespaces keys (default "ratelimit:"); redis_rate adds its own "rate:".
	Prefix string
	// OpTimeout bounds one Redis call (default 100 ms).
	OpTimeout        time.Duration
	ErrorLogInterval time.Duration // default 30 s
	Logger           *slog.Logger
}

// Limiter decides whether an event for a key is within its limit.
type Limiter struct {
	rl      *redis_rate.Limiter
	opts    Options
	breaker *resilience.Breaker
	local   *localGCRA
	lastLog atomic.Int64
}

// New returns a limiter over rdb; a nil rdb uses the in-memory fallback only.
func New(rdb redis.UniversalClient, opts Options) *Limiter {
	if opts.Prefix == "" {
		opts.Prefix = "ratelimit:"
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 100 * time.Millisecond
	}
	if opts.ErrorLogInterval <= 0 {
		opts.ErrorLogInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	l := &Limiter{opts: opts, local: newLocalGCRA()}
	if rdb != nil {
		l.rl = redis_rate.NewLimiter(rdb)
	}
	l.breaker = resilience.NewBreaker("redis-ratelimit", resilience.BreakerSettings{
		FailureThreshold: 3, SuccessThreshold: 1, OpenTimeout: 5 * time.Second,
	})
	return l
}

// Allow records one event for key and reports whether it is within limit.
// It never fails: when Redis is unavailable the local fallback decides.
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) Result {
	return l.AllowN(ctx, key, limit, 1)
}

// AllowN records n events at once.
func (l *Limiter) AllowN(ctx context.Context, key string, limit Limit, n int) Result {
	if limit.Rate <= 0 || limit.Burst <= 0 { // a zero limit denies everything (bn's max_requests 0)
		return Result{Allowed: false, Limit: limit, RetryAfter: time.Second, ResetAfter: time.Second}
	}
	if l.rl != nil {
		var res *redis_rate.Result
		err := l.breaker.Do(ctx, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, l.opts.OpTimeout)
			defer cancel()
			var err error
			res, err = l.rl.AllowN(ctx, l.opts.Prefix+key, limit, n)
			return err
		})
		if err == nil {
			return Result{Allowed: res.Allowed > 0, Limit: limit, Remaining: res.Remaining,
				RetryAfter: max(res.RetryAfter, 0), ResetAfter: max(res.ResetAfter, 0)}
		}
		if !errors.Is(err, context.Canceled) {
			l.logFailure(ctx, err)
		}
	}
	r := l.local.allow(key, limit, n, time.Now())
	r.Local = true
	return r
}

func (l *Limiter) logFailure(ctx context.Context, err error) {
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(l.opts.ErrorLogInterval) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	l.opts.Logger.WarnContext(ctx, "redis unavailable, rate limiting per instance", "error", err)
}

// localGCRA is the per-instance fallback: the same algorithm as redis_rate, in memory.
type localGCRA struct {
	mu     sync.Mutex
	tat    map[string]time.Time // theoretical arrival time per key
	sweeps int
}

func newLocalGCRA() *localGCRA { return &localGCRA{tat: map[string]time.Time{}} }

func (g *localGCRA) allow(key string, limit Limit, n int, now time.Time) Result {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	interval := limit.Period / time.Duration(limit.Rate)
	burstOffset := interval * time.Duration(limit.Burst)
	tat, ok := g.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	newTat := tat.Add(interval * time.Duration(n))
	allowAt := newTat.Add(-burstOffset)
	if now.Before(allowAt) {
		return Result{Allowed: false, Limit: limit, Remaining: int(now.Sub(tat.Add(-burstOffset)) / interval),
			RetryAfter: allowAt.Sub(now), ResetAfter: tat.Sub(now)}
	}
	g.tat[key] = newTat
	return Result{Allowed: true, Limit: limit, Remaining: int(now.Sub(allowAt) / interval), ResetAfter: newTat.Sub(now)}
}

// sweep drops keys whose bucket is full again, every 1024 calls, so the map stays
// as small as the set of active clients.
func (g *localGCRA) sweep(now time.Time) {
	g.sweeps++
	if g.sweeps%1024 != 0 {
		return
	}
	for k, t := range g.tat {
		if t.Before(now) {
			delete(g.tat, k)
		}
	}
}
