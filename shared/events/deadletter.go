package events

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is what WriteDeadLetter needs: a pool, a connection or a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// DeadLetter is an event that could not be delivered.
type DeadLetter struct {
	Origin     string // who gave up: a Trigger name, "outbox-relay"
	Subscriber string // the service it was for, if any
	Event      cloudevents.Event
	Attempts   int
	LastStatus int // last HTTP status, 0 when none
	LastError  string
}

// WriteDeadLetter records d in event_dead_letters.
func WriteDeadLetter(ctx context.Context, db DBTX, d DeadLetter) error {
	payload, attrs, err := encodeEvent(d.Event)
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	var subject, subscriber *string
	if s := d.Event.Subject(); s != "" {
		subject = &s
	}
	if d.Subscriber != "" {
		subscriber = &d.Subscriber
	}
	var status *int
	if d.LastStatus != 0 {
		status = &d.LastStatus
	}
	_, err = db.Exec(ctx, `INSERT INTO event_dead_letters
		(origin, subscriber, event_id, source, type, subject, payload, attributes, attempts, last_status, last_error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		d.Origin, subscriber, d.Event.ID(), d.Event.Source(), d.Event.Type(), subject, payload, attrs,
		d.Attempts, status, truncate(d.LastError, 2000))
	if err != nil {
		return fmt.Errorf("dead letter: insert event %s: %w", d.Event.ID(), err)
	}
	return nil
}
