package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/tenant"
)

// Beginner starts transactions: a *database.DB (which applies the organisation scope
// of the context to them, and with which Idempotent sends BEGIN and the event's record
// in one round trip), a *pgxpool.Pool or a pgx.Tx.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Idempotent wraps a consumer so that its effect and the (consumer, source, id)
// record commit in one transaction: a repeated event (Knative delivers at least once)
// is acknowledged without a second effect, and a failed one leaves no trace, so its
// retry runs again. Two deliveries of one event at the same time are serialised by
// the record's primary key: the second waits for the first and then sees it done.
//
// Errors keep their meaning for the runtime: fn's Permanent errors stay permanent
// (answered 4xx, not retried), every other failure is transient (5xx, retried).
// Only effects inside tx are covered; an effect outside the database (a Redis
// publish, an HTTP call) must be idempotent itself.
//
// fn runs in the organisation scope of the event (OrganizationScope): with a
// *database.DB as db, its transaction sees that organisation's rows only.
//
// The result is assignable to runtime.EventHandler.
func Idempotent(db Beginner, consumer string,
	fn func(ctx context.Context, tx pgx.Tx, e cloudevents.Event) error,
) func(ctx context.Context, e cloudevents.Event) error {
	return func(ctx context.Context, e cloudevents.Event) error {
		if e.ID() == "" || e.Source() == "" {
			return Permanent(errors.New("event without id or source"))
		}
		ctx = ContextWithTrace(ctx, e)
		scope, err := OrganizationScope(e)
		if err != nil {
			return Permanent(err)
		}
		ctx = tenant.With(ctx, scope)
		tx, tag, err := beginRecording(ctx, db, consumer, e)
		if err != nil {
			return fmt.Errorf("%s: record event %s: %w", consumer, e.ID(), err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit

		if tag.RowsAffected() == 0 {
			return nil // already processed: acknowledge, no second effect
		}
		if err := fn(ctx, tx, e); err != nil {
			if IsPermanent(err) {
				return err
			}
			return fmt.Errorf("%s: event %s (%s): %w", consumer, e.ID(), e.Type(), err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("%s: commit event %s: %w", consumer, e.ID(), err)
		}
		return nil
	}
}

// PruneProcessed deletes the processed-event records older than age. Keep them
// longer than the longest redelivery window (Knative retries for minutes to hours;
// a week is a safe default).
func PruneProcessed(ctx context.Context, db *pgxpool.Pool, age time.Duration) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM processed_events WHERE processed_at < now() - make_interval(secs => $1)`, age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("prune processed events: %w", err)
	}
	return tag.RowsAffected(), nil
}

const recordProcessedSQL = `INSERT INTO processed_events (consumer, source, event_id) VALUES ($1, $2, $3)
	ON CONFLICT DO NOTHING`

// beginWither is a Beginner that can also start a transaction and run its first
// statement in one round trip (database.DB).
type beginWither interface {
	BeginWith(ctx context.Context, sql string, args ...any) (pgx.Tx, pgconn.CommandTag, error)
}

// beginRecording starts the consumer's transaction with the record of e; its command
// tag tells whether e was new.
func beginRecording(ctx context.Context, db Beginner, consumer string, e cloudevents.Event) (pgx.Tx, pgconn.CommandTag, error) {
	if bw, ok := db.(beginWither); ok {
		return bw.BeginWith(ctx, recordProcessedSQL, consumer, e.Source(), e.ID())
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, pgconn.CommandTag{}, err
	}
	tag, err := tx.Exec(ctx, recordProcessedSQL, consumer, e.Source(), e.ID())
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, pgconn.CommandTag{}, err
	}
	return tx, tag, nil
}
