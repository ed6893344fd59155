package analysisapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/cache"
	"github.com/sqalfn/sqal/shared/sqalread"
)

// aggregateCache keeps encoded aggregate responses in the SQAL read cache (the one
// sqal-api uses), tagged with the samples generation that ingestion bumps after every
// stored sample: a new sample makes every cached aggregate unreachable at once, without
// scanning keys. shared/cache fails open (Redis down or slow: computed from the
// database), shares one computation among concurrent misses and counts hits and misses
// in /metrics.
type aggregateCache struct {
	c *cache.Cache
}

// newAggregateCache returns the cache over rdb; a nil rdb computes every time.
//
// Its counters (cache_hits_total{cache="sqal"}, ...) are recorded under shared/cache's
// own instrumentation scope of the global meter provider, not under this function's
// meter: sqal-api counts the same cache under the same names and labels, and where both
// functions share one process (the local runner, end-to-end tests) two scopes would give
// two identical series, which the Prometheus exporter rejects (GET /metrics answered 500).
func newAggregateCache(rdb redis.UniversalClient, logger *slog.Logger) *aggregateCache {
	return &aggregateCache{c: cache.New(rdb, cache.Options{Name: sqalread.CacheName, Logger: logger})}
}

// JSON returns the JSON encoding of compute's result for (name, params), from the cache
// when present. ttl bounds staleness for values that change without a new sample.
func (a *aggregateCache) JSON(ctx context.Context, name, params string, ttl time.Duration, compute func(context.Context) (any, error)) ([]byte, error) {
	sum := sha256.Sum256([]byte(params))
	key := "analysis:" + name + ":" + hex.EncodeToString(sum[:12])
	return cache.GetTagged(ctx, a.c, key, []string{sqalread.SamplesTag}, ttl, func(ctx context.Context) (json.RawMessage, error) {
		v, err := compute(ctx)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", name, err)
		}
		return b, nil
	})
}

// invalidate makes every cached SQAL aggregate stale (after a write of this API). A
// failure is logged by the cache; the TTL still bounds staleness.
func (a *aggregateCache) invalidate(ctx context.Context) {
	_ = a.c.BumpTags(context.WithoutCancel(ctx), sqalread.SamplesTag)
}
