package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/singleflight"

	"github.com/sqalfn/sqal/shared/tenant"

	"github.com/sqalfn/sqal/shared/resilience"
)

// Options configure a Cache; zero values take the defaults noted.
type Options struct {
	// Name labels the metrics (cache="dashboard") and prefixes every key ("dashboard:").
	Name string
	// OpTimeout bounds each Redis round trip (default 250 ms): a slow Redis must not
	// be slower than the database it protects.
	OpTimeout time.Duration
	// LoadTimeout bounds a load shared by several callers (default 30 s): it runs
	// detached from the first caller's cancellation so one impatient client does not
	// fail the others.
	LoadTimeout time.Duration
	// ErrorLogInterval is the minimum gap between two "redis unavailable" logs (default 30 s).
	ErrorLogInterval time.Duration
	Logger           *slog.Logger
	Meter            metric.Meter
}

// Cache is a JSON read-through cache. A nil Redis client makes it a pass-through
// (every Get loads), which is how a function runs without Redis.
type Cache struct {
	rdb     redis.UniversalClient
	opts    Options
	prefix  string
	group   singleflight.Group
	breaker *resilience.Breaker

	lastLog    atomic.Int64
	suppressed atomic.Int64

	hits, misses, loads metric.Int64Counter
	errs                metric.Int64Counter
	attrs               metric.MeasurementOption
}

// New returns a cache over rdb.
func New(rdb redis.UniversalClient, opts Options) *Cache {
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 250 * time.Millisecond
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = 30 * time.Second
	}
	if opts.ErrorLogInterval <= 0 {
		opts.ErrorLogInterval = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Meter == nil {
		opts.Meter = otel.GetMeterProvider().Meter("github.com/sqalfn/sqal/shared/cache")
	}
	c := &Cache{rdb: rdb, opts: opts, attrs: metric.WithAttributes(attribute.String("cache", opts.Name))}
	if opts.Name != "" {
		c.prefix = opts.Name + ":"
	}
	// After a few consecutive Redis failures stop trying for a while: every request
	// would otherwise pay a timeout against a dead Redis before falling back.
	c.breaker = resilience.NewBreaker("redis-cache-"+opts.Name, resilience.BreakerSettings{
		FailureThreshold: 3, SuccessThreshold: 1, OpenTimeout: 5 * time.Second,
		IsFailure: func(err error) bool { return !errors.Is(err, redis.Nil) && !errors.Is(err, context.Canceled) },
	})
	c.hits, _ = opts.Meter.Int64Counter("cache_hits", metric.WithDescription("Cache reads answered from Redis."))
	c.misses, _ = opts.Meter.Int64Counter("cache_misses", metric.WithDescription("Cache reads that had to load."))
	c.loads, _ = opts.Meter.Int64Counter("cache_loads", metric.WithDescription("Loader calls (misses after stampede protection)."))
	c.errs, _ = opts.Meter.Int64Counter("cache_errors", metric.WithDescription("Redis errors; the cache failed open."))
	return c
}

// Key returns the Redis key of key for the organisation scope of ctx: every value of
// the cache is per scope, because the loaders' queries see only that organisation's rows
// (row-level security), so one organisation's value must never answer another's request.
func (c *Cache) Key(ctx context.Context, key string) string {
	s, _ := tenant.From(ctx)
	return c.prefix + "org:" + s.Key() + ":" + key
}

// redisDo runs one Redis operation with the op timeout, through the breaker.
func (c *Cache) redisDo(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	if c.rdb == nil {
		return errNoRedis
	}
	err := c.breaker.Do(ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, c.opts.OpTimeout)
		defer cancel()
		return fn(ctx)
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		c.failOpen(ctx, op, err)
	}
	return err
}

var errNoRedis = errors.New("no redis client")

// failOpen counts and (rate-limited) logs a Redis failure.
func (c *Cache) failOpen(ctx context.Context, op string, err error) {
	c.errs.Add(ctx, 1, c.attrs, metric.WithAttributes(attribute.String("op", op)))
	now := time.Now().UnixNano()
	last := c.lastLog.Load()
	if now-last < int64(c.opts.ErrorLogInterval) || !c.lastLog.CompareAndSwap(last, now) {
		c.suppressed.Add(1)
		return
	}
	c.opts.Logger.WarnContext(ctx, "redis unavailable, cache failing open", "cache", c.opts.Name, "op", op,
		"error", err, "suppressed_since_last_log", c.suppressed.Swap(0))
}

// Get returns the value cached under key, or calls load, caches its result for ttl and
// returns it. Concurrent Gets of one key share one load. Redis failures never fail the
// call: the value is loaded (and not cached).
func Get[T any](ctx context.Context, c *Cache, key string, ttl time.Duration, load func(ctx context.Context) (T, error)) (T, error) {
	return get(ctx, c, c.Key(ctx, key), ttl, load)
}

// GetTagged is Get for a value that depends on tags: the key embeds the current
// generation of each tag, so BumpTags invalidates every such value in one INCR
// (the stale entries expire by TTL). Example: aggregates tagged "samples" are
// invalidated when a new sample is stored.
func GetTagged[T any](ctx context.Context, c *Cache, key string, tags []string, ttl time.Duration, load func(ctx context.Context) (T, error)) (T, error) {
	gens, err := c.generations(ctx, tags)
	if err != nil {
		// Without the generations we cannot know which entry is current: load.
		c.misses.Add(ctx, 1, c.attrs)
		return sharedLoad(ctx, c, "tagged:"+c.Key(ctx, key), load)
	}
	var b strings.Builder
	b.WriteString(c.Key(ctx, key))
	for i, t := range tags {
		b.WriteString("|" + t + "=" + strconv.FormatInt(gens[i], 10))
	}
	return get(ctx, c, b.String(), ttl, load)
}

func get[T any](ctx context.Context, c *Cache, rkey string, ttl time.Duration, load func(ctx context.Context) (T, error)) (T, error) {
	var raw []byte
	err := c.redisDo(ctx, "get", func(ctx context.Context) error {
		var err error
		raw, err = c.rdb.Get(ctx, rkey).Bytes()
		return err
	})
	if err == nil {
		var v T
		if uerr := json.Unmarshal(raw, &v); uerr == nil {
			c.hits.Add(ctx, 1, c.attrs)
			return v, nil
		}
		// An entry written by an older version of the type: reload and overwrite.
		c.failOpen(ctx, "decode", fmt.Errorf("decode cached %s: invalid JSON for %T", rkey, v))
	}
	c.misses.Add(ctx, 1, c.attrs)
	redisUp := err == nil || errors.Is(err, redis.Nil)
	return sharedLoad(ctx, c, rkey, func(ctx context.Context) (T, error) {
		v, lerr := load(ctx)
		if lerr != nil || !redisUp {
			return v, lerr
		}
		if b, merr := json.Marshal(v); merr == nil {
			_ = c.redisDo(ctx, "set", func(ctx context.Context) error { return c.rdb.Set(ctx, rkey, b, ttl).Err() })
		}
		return v, nil
	})
}

// sharedLoad runs load once per key among concurrent callers; each caller still
// returns when its own context ends.
func sharedLoad[T any](ctx context.Context, c *Cache, key string, load func(ctx context.Context) (T, error)) (T, error) {
	ch := c.group.DoChan(key, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.LoadTimeout)
		defer cancel()
		c.loads.Add(lctx, 1, c.attrs)
		return load(lctx)
	})
	select {
	case res := <-ch:
		v, _ := res.Val.(T)
		return v, res.Err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Set stores v under key for ttl (best effort: a Redis failure is logged and returned).
func (c *Cache) Set(ctx context.Context, key string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode cache value %s: %w", key, err)
	}
	return c.redisDo(ctx, "set", func(ctx context.Context) error { return c.rdb.Set(ctx, c.Key(ctx, key), b, ttl).Err() })
}

// Invalidate deletes keys.
func (c *Cache) Invalidate(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = c.Key(ctx, k)
	}
	return c.redisDo(ctx, "del", func(ctx context.Context) error {
		// One DEL per key: in cluster mode keys may live on different slots.
		for _, k := range full {
			if err := c.rdb.Del(ctx, k).Err(); err != nil {
				return err
			}
		}
		return nil
	})
}

// BumpTags invalidates every GetTagged value that depends on one of tags.
func (c *Cache) BumpTags(ctx context.Context, tags ...string) error {
	return c.redisDo(ctx, "incr", func(ctx context.Context) error {
		for _, t := range tags {
			if err := c.rdb.Incr(ctx, c.genKey(t)).Err(); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *Cache) genKey(tag string) string { return c.prefix + "gen:" + tag }

func (c *Cache) generations(ctx context.Context, tags []string) ([]int64, error) {
	gens := make([]int64, len(tags))
	if len(tags) == 0 {
		return gens, nil
	}
	err := c.redisDo(ctx, "gen", func(ctx context.Context) error {
		for i, t := range tags { // not MGET: tags may hash to different cluster slots
			n, err := c.rdb.Get(ctx, c.genKey(t)).Int64()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			gens[i] = n
		}
		return nil
	})
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	return gens, err
}
