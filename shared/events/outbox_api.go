package events

// STUB of the outbox API agreed between helpers (owned by the data/events helper, who
// replaces this file with the real implementation):
//
//   // AddToOutbox writes e into the outbox table inside tx, so the event is committed
//   // atomically with the data it describes; the relay delivers it at least once.
//   func AddToOutbox(ctx context.Context, tx pgx.Tx, e cloudevents.Event) error
//
//   // Idempotent wraps a consumer so that its effect and the (consumer, source, id)
//   // record commit in one transaction; a repeated event is acknowledged without effect.
//   func Idempotent(db *pgxpool.Pool, consumer string,
//       fn func(ctx context.Context, tx pgx.Tx, e cloudevents.Event) error) runtime.EventHandler
