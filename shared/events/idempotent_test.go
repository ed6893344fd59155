package events_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/testenv"
)

// TestIdempotent runs with a plain pool (BEGIN, then the record) and with a
// database.DB (BEGIN and the record in one round trip).
func TestIdempotent(t *testing.T) {
	t.Run("pool", func(t *testing.T) { testIdempotent(t, false) })
	t.Run("database.DB", func(t *testing.T) { testIdempotent(t, true) })
}

func testIdempotent(t *testing.T, scoped bool) {
	ctx := context.Background()
	db := testenv.DB(t)
	var via events.Beginner = db
	if scoped {
		via = database.NewDB(db)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE effects (event_id text)`); err != nil {
		t.Fatal(err)
	}
	var failNext error // set between deliveries, read by the handler
	handler := events.Idempotent(via, "test-consumer", func(ctx context.Context, tx pgx.Tx, e cloudevents.Event) error {
		if _, err := tx.Exec(ctx, `INSERT INTO effects VALUES ($1)`, e.ID()); err != nil {
			return err
		}
		return failNext
	})
	effects := func(id string) int {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM effects WHERE event_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	steps := []struct {
		name          string
		id            string
		fail          error
		wantErr       bool
		wantPermanent bool
		wantEffects   int
	}{
		{name: "first delivery", id: "a", wantEffects: 1},
		{name: "redelivery has no effect", id: "a", wantEffects: 1},
		{name: "transient failure leaves nothing", id: "b", fail: errors.New("db hiccup"), wantErr: true, wantEffects: 0},
		{name: "retry after transient failure applies", id: "b", wantEffects: 1},
		{name: "permanent failure stays permanent", id: "c", fail: events.Permanent(errors.New("bad data")), wantErr: true, wantPermanent: true, wantEffects: 0},
	}
	for _, s := range steps {
		failNext = s.fail
		err := handler(ctx, sampleEvent(s.id))
		if (err != nil) != s.wantErr || events.IsPermanent(err) != s.wantPermanent {
			t.Errorf("%s: err = %v, want error %v permanent %v", s.name, err, s.wantErr, s.wantPermanent)
		}
		if got := effects(s.id); got != s.wantEffects {
			t.Errorf("%s: %d effects, want %d", s.name, got, s.wantEffects)
		}
	}

	// Concurrent redeliveries of one event: exactly one effect.
	failNext = nil
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := handler(ctx, sampleEvent("d")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := effects("d"); got != 1 {
		t.Errorf("concurrent deliveries: %d effects, want 1", got)
	}
}
