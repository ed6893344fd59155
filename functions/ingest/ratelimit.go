package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/ratelimit"
)

// RateLimitError is a sample refused by the per-device rate limit (WebSocket error
// frame, HTTP 429 with Retry-After).
type RateLimitError struct {
	Device     string
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limit exceeded for device %s: retry in %s", e.Device, e.RetryAfter.Round(time.Millisecond))
}

// deviceLimiter is the per-device sample budget, shared by every ingest instance
// through Redis (GCRA, shared/ratelimit), so a device cannot multiply its allowance by
// connecting to several pods. If Redis is down, shared/ratelimit falls back to a
// per-instance limit (documented there): quality data is not refused for lack of Redis.
type deviceLimiter struct {
	l     *ratelimit.Limiter
	limit ratelimit.Limit
}

// newDeviceLimiter allows rate samples per second (a fraction is expressed per minute)
// with the given burst (0 = max(1, rate)).
func newDeviceLimiter(rdb redis.UniversalClient, log *slog.Logger, rate float64, burst int) *deviceLimiter {
	lim := ratelimit.Limit{Rate: int(rate), Period: time.Second}
	if rate != math.Trunc(rate) {
		lim = ratelimit.Limit{Rate: int(math.Round(rate * 60)), Period: time.Minute}
	}
	lim.Burst = burst
	if lim.Burst == 0 {
		lim.Burst = max(1, int(math.Ceil(rate)))
	}
	return &deviceLimiter{l: ratelimit.New(rdb, ratelimit.Options{Prefix: "sqal:ingest:device:", Logger: log}), limit: lim}
}

// allow applies the rate limit to one sample of device.
func (s *Service) allow(ctx context.Context, device string) error {
	if s.limit == nil {
		return nil
	}
	res := s.limit.l.Allow(ctx, device, s.limit.limit)
	if !res.Allowed {
		s.metrics.limited(ctx)
		return &RateLimitError{Device: device, RetryAfter: res.RetryAfter}
	}
	return nil
}
