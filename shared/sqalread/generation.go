package sqalread

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Cache names of the SQAL read APIs: their aggregates live in the shared/cache named
// CacheName and are tagged SamplesTag.
const (
	CacheName  = "sqal"
	SamplesTag = "samples"
)

// GenerationKey is the Redis key whose value changes every time quality data changes
// (a sample or an alert is stored, an alert is acknowledged). Cached aggregates of the
// read APIs embed the generation in their cache key, so bumping it invalidates all of
// them at once without scanning keys. It is the key shared/cache uses for the tag
// SamplesTag of the cache CacheName, so BumpGeneration is the same as
// cache.New(rdb, cache.Options{Name: CacheName}).BumpTags(ctx, SamplesTag).
const GenerationKey = CacheName + ":gen:" + SamplesTag

// BumpGeneration invalidates every cached SQAL aggregate. Call it after the
// transaction that stored a new sample (or alert) has committed. A failure only delays
// invalidation until the cache TTL expires, so callers log it and carry on.
func BumpGeneration(ctx context.Context, rdb redis.UniversalClient) error {
	if err := rdb.Incr(ctx, GenerationKey).Err(); err != nil {
		return fmt.Errorf("bump sqal cache generation: %w", err)
	}
	return nil
}

// Generation reads the current generation ("0" when never bumped).
func Generation(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	g, err := rdb.Get(ctx, GenerationKey).Result()
	if err == redis.Nil {
		return "0", nil
	}
	if err != nil {
		return "", fmt.Errorf("read sqal cache generation: %w", err)
	}
	return g, nil
}
