package events

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OutboxChannel is the PostgreSQL NOTIFY channel that event_outbox inserts signal
// (a statement trigger of migration 00002), waking the relay at once.
const OutboxChannel = "event_outbox"

// AddToOutbox writes e into the outbox table inside tx, so the event is committed
// atomically with the data it describes; the relay delivers it at least once. The
// trace context of ctx is recorded with the event. Writing an event with the same
// source and id twice stores it once. The event needs a stable id (see Publisher).
// The relay is woken by a trigger at commit, not by this call.
func AddToOutbox(ctx context.Context, tx pgx.Tx, e cloudevents.Event) error {
	row, err := NewOutboxRow(ctx, e)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO event_outbox (`+OutboxColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, event_id) DO NOTHING`, row.Args()...)
	if err != nil {
		return fmt.Errorf("outbox: insert event %s (%s): %w", e.ID(), e.Type(), err)
	}
	return nil
}

// OutboxRow is an event as event_outbox stores it, for a producer that writes its
// outbox rows inside a statement of its own (ingest inserts a group's samples and
// their events in one statement). Args are the values of the columns OutboxColumns
// names, in that order; the row must be inserted with ON CONFLICT (source, event_id)
// DO NOTHING, as AddToOutbox does.
type OutboxRow struct {
	EventID, Source, Type string
	Subject               *string
	Payload               []byte
	Attributes            string // JSON object of the other attributes and extensions
}

// OutboxColumns are the event_outbox columns of OutboxRow.Args, in order. Their types
// are text, text, text, text, bytea and jsonb.
const OutboxColumns = "event_id, source, type, subject, payload, attributes"

// Args are the row's column values in OutboxColumns order.
func (r OutboxRow) Args() []any {
	return []any{r.EventID, r.Source, r.Type, r.Subject, r.Payload, r.Attributes}
}

// NewOutboxRow validates e and prepares its outbox row exactly as AddToOutbox writes
// it: with the trace context and organisation of ctx (unless e carries them) and the
// current time when e has none.
func NewOutboxRow(ctx context.Context, e cloudevents.Event) (OutboxRow, error) {
	if err := e.Validate(); err != nil {
		return OutboxRow{}, fmt.Errorf("outbox: invalid event %q: %w", e.ID(), err)
	}
	WithTraceContext(ctx, &e)
	WithOrganization(ctx, &e)
	if e.Time().IsZero() {
		// The event time is when the fact happened, not when the relay got to it.
		e.SetTime(time.Now())
	}
	payload, attrs, err := encodeEvent(e)
	if err != nil {
		return OutboxRow{}, fmt.Errorf("outbox: %w", err)
	}
	row := OutboxRow{EventID: e.ID(), Source: e.Source(), Type: e.Type(), Payload: payload, Attributes: attrs}
	if s := e.Subject(); s != "" {
		row.Subject = &s
	}
	return row, nil
}

// RelayConfig configures a Relay.
type RelayConfig struct {
	// BatchSize is how many rows one transaction locks and sends.
	BatchSize int `env:"OUTBOX_BATCH_SIZE, default=100"`
	// Concurrency is how many events of a batch are sent at once. 1 keeps the
	// store order (which the realtime dashboards show), higher trades it for throughput.
	Concurrency int `env:"OUTBOX_CONCURRENCY, default=1"`
	// PollInterval is the fallback wake-up when no notification arrives (a lost
	// LISTEN connection, rows waiting for their retry time).
	PollInterval time.Duration `env:"OUTBOX_POLL_INTERVAL, default=1s"`
	// InitialBackoff and MaxBackoff space the retries of one row while the broker fails.
	InitialBackoff time.Duration `env:"OUTBOX_INITIAL_BACKOFF, default=500ms"`
	MaxBackoff     time.Duration `env:"OUTBOX_MAX_BACKOFF, default=1m"`
	// Retention is how long delivered rows are kept (inspection, replay) before pruning.
	Retention time.Duration `env:"OUTBOX_RETENTION, default=24h"`
}

func (c *RelayConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 1
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff < c.InitialBackoff {
		c.MaxBackoff = max(time.Minute, c.InitialBackoff)
	}
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
}

// Relay moves outbox rows to a Sender. Any number of relays may run against one
// database: each batch is claimed with SELECT ... FOR UPDATE SKIP LOCKED, so in normal
// operation every row is sent once; after a crash between send and commit a row is
// sent again (at least once). A row whose send fails stays in the outbox with its
// attempt count, error and next try time, for as long as the broker is down. Only a
// Permanent failure (the broker rejects the event as malformed) moves it to
// event_dead_letters.
type Relay struct {
	db     *pgxpool.Pool
	sender Sender
	cfg    RelayConfig
	log    *slog.Logger

	mu         sync.Mutex
	lastPruned time.Time
}

// NewRelay returns a relay from db's outbox to sender. logger may be nil.
func NewRelay(db *pgxpool.Pool, sender Sender, cfg RelayConfig, logger *slog.Logger) *Relay {
	cfg.setDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Relay{db: db, sender: sender, cfg: cfg, log: logger}
}

// RunOnce delivers every row that is due, batch after batch, and returns how many
// were delivered. It is what a PingSource-triggered function calls. Rows that failed
// are left for a later run; their errors are not RunOnce's error, which reports only
// database failures.
func (r *Relay) RunOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		n, full, err := r.batch(ctx)
		total += n
		if err != nil {
			return total, err
		}
		if !full {
			break
		}
	}
	if err := r.maybePrune(ctx); err != nil {
		return total, err
	}
	return total, nil
}

type outboxRow struct {
	id       int64
	attempts int
	event    cloudevents.Event
	err      error
}

// batch claims, sends and records one batch. full reports whether the batch was
// full (more rows are probably due).
func (r *Relay) batch(ctx context.Context) (delivered int, full bool, err error) {
	// BEGIN and the claim go out together: one round trip, as often as the relay wakes.
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(`SELECT id, event_id, source, type, subject, payload, attributes, attempts
		FROM event_outbox
		WHERE delivered_at IS NULL AND available_at <= now()
		ORDER BY id
		LIMIT $1
		FOR UPDATE SKIP LOCKED`, r.cfg.BatchSize)
	br := r.db.SendBatch(ctx, b)
	tx := br.Tx()
	if tx != nil {
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return 0, false, fmt.Errorf("relay: begin: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return 0, false, fmt.Errorf("relay: claim batch: %w", err)
	}
	var batch []*outboxRow
	for rows.Next() {
		var (
			row                 outboxRow
			id, source, typ     string
			subject             *string
			payload, attributes []byte
		)
		if err := rows.Scan(&row.id, &id, &source, &typ, &subject, &payload, &attributes, &row.attempts); err != nil {
			rows.Close()
			_ = br.Close()
			return 0, false, fmt.Errorf("relay: read batch: %w", err)
		}
		row.event, row.err = decodeEvent(id, source, typ, subject, payload, attributes)
		if row.err != nil {
			row.err = Permanent(row.err)
		}
		batch = append(batch, &row)
	}
	if err := rows.Err(); err != nil {
		_ = br.Close()
		return 0, false, fmt.Errorf("relay: read batch: %w", err)
	}
	if err := br.Close(); err != nil {
		return 0, false, fmt.Errorf("relay: claim batch: %w", err)
	}
	if tx == nil { // the pool could not even send the batch
		return 0, false, fmt.Errorf("relay: begin: no transaction")
	}
	if len(batch) == 0 {
		return 0, false, nil
	}

	r.send(ctx, batch)

	var okIDs, failIDs []int64
	var failErrs []string
	var failWaits []float64
	for _, row := range batch {
		switch {
		case row.err == nil:
			okIDs = append(okIDs, row.id)
		case IsPermanent(row.err):
			r.log.ErrorContext(ctx, "outbox event rejected, moved to dead letters",
				"event_id", row.event.ID(), "type", row.event.Type(), "error", row.err)
			if err := deadLetterOutboxRow(ctx, tx, row.id, row.err); err != nil {
				return 0, false, err
			}
		default:
			failIDs = append(failIDs, row.id)
			failErrs = append(failErrs, truncate(row.err.Error(), 2000))
			failWaits = append(failWaits, backoff(row.attempts+1, r.cfg.InitialBackoff, r.cfg.MaxBackoff).Seconds())
		}
	}
	if len(okIDs) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE event_outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL
			WHERE id = ANY($1)`, okIDs); err != nil {
			return 0, false, fmt.Errorf("relay: mark delivered: %w", err)
		}
	}
	if len(failIDs) > 0 {
		r.log.WarnContext(ctx, "outbox events not delivered, will retry", "count", len(failIDs), "error", failErrs[0])
		if _, err := tx.Exec(ctx, `UPDATE event_outbox o
			SET attempts = o.attempts + 1, last_error = f.err, available_at = now() + make_interval(secs => f.wait)
			FROM unnest($1::bigint[], $2::text[], $3::float8[]) AS f(id, err, wait)
			WHERE o.id = f.id`, failIDs, failErrs, failWaits); err != nil {
			return 0, false, fmt.Errorf("relay: record failures: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, false, fmt.Errorf("relay: commit: %w", err)
	}
	// A batch with failures is not "full": retrying at once would hammer a broker
	// that is down; the rows come back after their backoff.
	return len(okIDs), len(batch) == r.cfg.BatchSize && len(failIDs) == 0, nil
}

// send delivers the batch with at most cfg.Concurrency sends in flight, in id order
// when Concurrency is 1.
func (r *Relay) send(ctx context.Context, batch []*outboxRow) {
	sem := make(chan struct{}, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, row := range batch {
		if row.err != nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sctx := ContextWithTrace(ctx, row.event)
			row.err = r.sender.Publish(sctx, row.event)
		}()
	}
	wg.Wait()
}

func deadLetterOutboxRow(ctx context.Context, tx pgx.Tx, id int64, cause error) error {
	_, err := tx.Exec(ctx, `WITH moved AS (DELETE FROM event_outbox WHERE id = $1 RETURNING *)
		INSERT INTO event_dead_letters (origin, event_id, source, type, subject, payload, attributes, attempts, last_error)
		SELECT 'outbox-relay', event_id, source, type, subject, payload, attributes, attempts + 1, $2 FROM moved`,
		id, truncate(cause.Error(), 2000))
	if err != nil {
		return fmt.Errorf("relay: move outbox row %d to dead letters: %w", id, err)
	}
	return nil
}

// Run relays until ctx ends: at once when a transaction that wrote outbox rows
// commits (LISTEN on a dedicated connection), and every PollInterval in any case.
// Database errors are logged and retried; Run returns nil when ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.listen(ctx, wake)
	}()
	defer wg.Wait()

	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-timer.C:
		}
		next := r.cfg.PollInterval
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			failures++
			next = min(backoff(failures, r.cfg.InitialBackoff, r.cfg.MaxBackoff), max(r.cfg.PollInterval, r.cfg.InitialBackoff))
			r.log.ErrorContext(ctx, "outbox relay failed", "error", err, "retry_in", next)
		} else {
			failures = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// listen signals wake on every outbox notification, reconnecting when the
// connection breaks (the poll keeps the relay going meanwhile).
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	failures := 0
	for ctx.Err() == nil {
		err := r.listenOnce(ctx, wake, &failures)
		if ctx.Err() != nil {
			return
		}
		failures++
		wait := backoff(failures, r.cfg.InitialBackoff, r.cfg.MaxBackoff)
		r.log.WarnContext(ctx, "outbox notifications lost, polling until reconnected", "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (r *Relay) listenOnce(ctx context.Context, wake chan<- struct{}, failures *int) error {
	// A connection of its own, outside the pool: it sits in LISTEN for the life of
	// the relay and must not count against the pool the handlers use.
	conn, err := pgx.ConnectConfig(ctx, r.db.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+OutboxChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	*failures = 0
	// Rows may have been written while we were not listening.
	signal(wake)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		signal(wake)
	}
}

func signal(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default: // a wake-up is already pending; it will see this row too
	}
}

// maybePrune deletes delivered rows older than the retention, at most every few
// minutes per relay.
func (r *Relay) maybePrune(ctx context.Context) error {
	r.mu.Lock()
	due := time.Since(r.lastPruned) > 5*time.Minute
	if due {
		r.lastPruned = time.Now()
	}
	r.mu.Unlock()
	if !due {
		return nil
	}
	if _, err := r.db.Exec(ctx, `DELETE FROM event_outbox WHERE delivered_at < now() - make_interval(secs => $1)`,
		r.cfg.Retention.Seconds()); err != nil {
		return fmt.Errorf("relay: prune delivered rows: %w", err)
	}
	return nil
}

// Pending counts the outbox rows not delivered yet (health checks, tests).
func Pending(ctx context.Context, db *pgxpool.Pool) (int, error) {
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM event_outbox WHERE delivered_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending outbox rows: %w", err)
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
