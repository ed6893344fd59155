// Package cache opens the Redis client of a function (one node or a cluster, from
// config) and provides a JSON read-through cache on top of it: get-or-load with a TTL,
// invalidation by key or by tag generation, one load per key at a time (stampede
// protection), and fail-open behaviour: when Redis is down the cache logs (once per
// interval), counts the error and serves from the loader.
package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sqalfn/sqal/shared/config"
)

// ErrNotConfigured is returned by NewClient when neither REDIS_URL nor REDIS_ADDRS is set.
var ErrNotConfigured = errors.New("REDIS_URL / REDIS_ADDRS is not set")

// NewClient builds a redis.UniversalClient: a cluster client when cfg.Addrs is set,
// otherwise a single-node client from cfg.URL. It does not connect: Redis is optional
// at start (callers fail open), use Ping to check it.
func NewClient(cfg config.Redis) (redis.UniversalClient, error) {
	switch {
	case len(cfg.Addrs) > 0:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:        cfg.Addrs,
			Password:     cfg.Password,
			DialTimeout:  cfg.DialTimeout,
			ReadTimeout:  cfg.ReadTimeout,
			WriteTimeout: cfg.WriteTimeout,
			PoolSize:     cfg.PoolSize,
			// Honour context deadlines on every command, so a caller's timeout is the
			// real bound (go-redis otherwise only uses its own timeouts).
			ContextTimeoutEnabled: true,
		}), nil
	case cfg.URL != "":
		opts, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("parse REDIS_URL %s: invalid URL", config.Redact(cfg.URL))
		}
		if cfg.Password != "" && opts.Password == "" {
			opts.Password = cfg.Password
		}
		if cfg.DialTimeout > 0 {
			opts.DialTimeout = cfg.DialTimeout
		}
		if cfg.ReadTimeout > 0 {
			opts.ReadTimeout = cfg.ReadTimeout
		}
		if cfg.WriteTimeout > 0 {
			opts.WriteTimeout = cfg.WriteTimeout
		}
		if cfg.PoolSize > 0 {
			opts.PoolSize = cfg.PoolSize
		}
		opts.ContextTimeoutEnabled = true
		return redis.NewClient(opts), nil
	}
	return nil, ErrNotConfigured
}

// Ping checks Redis answers within timeout.
func Ping(ctx context.Context, c redis.UniversalClient, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return c.Ping(ctx).Err()
}

// Check returns a health check that pings c.
func Check(c redis.UniversalClient) func(ctx context.Context) error {
	return func(ctx context.Context) error { return c.Ping(ctx).Err() }
}

// RegisterPoolMetrics exports the client's connection pool statistics:
// redis_pool_total, redis_pool_idle, redis_pool_stale (gauges) and
// redis_pool_hits_total, redis_pool_misses_total, redis_pool_timeouts_total.
func RegisterPoolMetrics(meter metric.Meter, c redis.UniversalClient, name string) (metric.Registration, error) {
	attrs := metric.WithAttributes(attribute.String("pool", name))
	total, e1 := meter.Int64ObservableGauge("redis_pool_total", metric.WithDescription("Open Redis connections."))
	idle, e2 := meter.Int64ObservableGauge("redis_pool_idle", metric.WithDescription("Idle Redis connections."))
	stale, e3 := meter.Int64ObservableGauge("redis_pool_stale", metric.WithDescription("Stale connections removed from the pool."))
	hits, e4 := meter.Int64ObservableCounter("redis_pool_hits", metric.WithDescription("Free connection found in the pool."))
	misses, e5 := meter.Int64ObservableCounter("redis_pool_misses", metric.WithDescription("No free connection: a new one was dialled."))
	timeouts, e6 := meter.Int64ObservableCounter("redis_pool_timeouts", metric.WithDescription("Waits for a connection that timed out."))
	if err := errors.Join(e1, e2, e3, e4, e5, e6); err != nil {
		return nil, fmt.Errorf("create redis pool instruments: %w", err)
	}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := c.PoolStats()
		o.ObserveInt64(total, int64(s.TotalConns), attrs)
		o.ObserveInt64(idle, int64(s.IdleConns), attrs)
		o.ObserveInt64(stale, int64(s.StaleConns), attrs)
		o.ObserveInt64(hits, int64(s.Hits), attrs)
		o.ObserveInt64(misses, int64(s.Misses), attrs)
		o.ObserveInt64(timeouts, int64(s.Timeouts), attrs)
		return nil
	}, total, idle, stale, hits, misses, timeouts)
}
