package sqalapi

import (
	"context"
	"time"

	"github.com/sqalfn/sqal/shared/cache"
	"github.com/sqalfn/sqal/shared/sqalread"
)

// aggregates caches aggregate responses in Redis, tagged with the "samples" generation
// that writers bump (sqalread.BumpGeneration) once a sample or an alert is committed:
// every cached aggregate goes stale at once, without deleting keys. shared/cache brings
// the rest: fail-open when Redis is absent, slow or down (values are then computed from
// PostgreSQL), one load per key among concurrent misses, hit/miss counters in /metrics.
type aggregates struct {
	c   *cache.Cache
	ttl time.Duration
}

// get returns the cached value of name/key or loads it.
func get[T any](ctx context.Context, a *aggregates, name, key string, load func(context.Context) (T, error)) (T, error) {
	return cache.GetTagged(ctx, a.c, name+":"+key, []string{sqalread.SamplesTag}, a.ttl, load)
}

// bump invalidates every cached aggregate after a write of this API (alert created or
// acknowledged). A failure is logged by the cache; the TTL still bounds staleness.
func (a *aggregates) bump(ctx context.Context) {
	_ = a.c.BumpTags(context.WithoutCancel(ctx), sqalread.SamplesTag)
}
