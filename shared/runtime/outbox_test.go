package runtime

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/testenv"
)

type recordingPublisher struct {
	mu  sync.Mutex
	ids []string
}

func (p *recordingPublisher) Publish(_ context.Context, e cloudevents.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, e.ID())
	return nil
}

func (p *recordingPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids)
}

// A producing function's events leave the outbox while it runs, and the stop function
// sends what the last requests wrote before the pool closes.
func TestOutboxRelayRunsWithTheFunction(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)
	pub := &recordingPublisher{}
	env := &Env{DB: database.NewDB(db), Publisher: pub, Logger: slog.New(slog.DiscardHandler)}
	stop, err := startRelay(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	write := func(id string) {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit; never leave the pool waiting
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetSource("/test")
		e.SetType("sqal.test")
		if err := events.AddToOutbox(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	write("a")
	deadline := time.Now().Add(5 * time.Second)
	for pub.count() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pub.count() != 1 {
		t.Fatalf("event not relayed while running: %v", pub.ids)
	}
	write("b")
	stop()
	if pub.count() != 2 {
		t.Fatalf("stop did not flush the outbox: %v", pub.ids)
	}
}
