package ingest

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/sqalread"
)

// generationBumper invalidates the read APIs' cached aggregates after samples are
// stored, off the ack path: touch never blocks, bumps are coalesced to at most one per
// interval, and a Redis failure is only logged (the caches also expire on their own).
type generationBumper struct {
	signal chan struct{}
}

func newGenerationBumper(ctx context.Context, rdb redis.UniversalClient, every time.Duration, log *slog.Logger) *generationBumper {
	b := &generationBumper{signal: make(chan struct{}, 1)}
	if every <= 0 {
		every = time.Second
	}
	go func() {
		var lastErr time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-b.signal:
			}
			bctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			err := sqalread.BumpGeneration(bctx, rdb)
			cancel()
			if err != nil && time.Since(lastErr) > time.Minute {
				lastErr = time.Now()
				log.Warn("read cache not invalidated (cached aggregates expire by TTL)", "error", err)
			}
			select { // at most one bump per interval
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
		}
	}()
	return b
}

// touch asks for a bump; it returns at once.
func (b *generationBumper) touch() {
	select {
	case b.signal <- struct{}{}:
	default:
	}
}
