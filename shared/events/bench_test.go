package events_test

import (
	"context"
	"fmt"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/testenv"
)

// BenchmarkAddToOutbox is the outbox's share of an ingest transaction.
func BenchmarkAddToOutbox(b *testing.B) {
	ctx := context.Background()
	db := testenv.DB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			return events.AddToOutbox(ctx, tx, sampleEvent(fmt.Sprint("b-", i)))
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelay is the relay's own cost per event (claim, mark delivered) with a
// sender that costs nothing.
func BenchmarkRelay(b *testing.B) {
	ctx := context.Background()
	db := testenv.DB(b)
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		for i := 0; i < b.N; i++ {
			if err := events.AddToOutbox(ctx, tx, sampleEvent(fmt.Sprint("r-", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	relay := events.NewRelay(db, events.SenderFunc(func(context.Context, cloudevents.Event) error { return nil }), events.RelayConfig{}, nil)
	b.ResetTimer()
	n, err := relay.RunOnce(ctx)
	if err != nil || n != b.N {
		b.Fatalf("relayed %d of %d: %v", n, b.N, err)
	}
}
