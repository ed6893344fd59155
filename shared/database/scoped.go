package database

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/tenant"
)

// DB is the pool functions reach tenant data through. Every statement runs with the
// organisation scope of its context (tenant.From), which the row-level security
// policies of migration 00060 read:
//
//   - Query, QueryRow, Exec and SendBatch send the scope and the statement as one
//     pipelined batch. PostgreSQL runs a batch as one implicit transaction, so the
//     setting is transaction-local (nothing leaks to the next user of the connection,
//     which PgBouncer in transaction mode may hand to anyone) and costs no round trip.
//   - Begin and BeginTx send BEGIN and the scope together (pgx's Batch.BeginTx).
//
// There is no scoped CopyFrom: PostgreSQL refuses COPY FROM into a table under
// row-level security ("COPY FROM not supported with row-level security"), so the
// functions insert with multi-row INSERTs; only tools running as the owner COPY.
//
// A context without a scope sets an empty one: the statement sees no tenant rows.
// The embedded pool stays available for what is not tenant data (health pings, the
// outbox relay, processed events).
type DB struct {
	*pgxpool.Pool
}

// NewDB wraps pool.
func NewDB(pool *pgxpool.Pool) *DB { return &DB{Pool: pool} }

// RowSecurity reports whether the pool's role is subject to row-level security:
// "enforced", or "bypassed" for a superuser or a BYPASSRLS role.
func RowSecurity(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var bypass bool
	if err := pool.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&bypass); err != nil {
		return "", fmt.Errorf("read the database role's attributes: %w", err)
	}
	if bypass {
		return "bypassed", nil
	}
	return "enforced", nil
}

// scopeSQL sets both settings transaction-locally (set_config's third argument).
const scopeSQL = `SELECT set_config('app.organization_id', $1, true), set_config('app.all_organizations', $2, true)`

func scopeArgs(ctx context.Context) []any {
	s, _ := tenant.From(ctx)
	all := "off"
	if s.All {
		all = "on"
	}
	return []any{s.Organization, all}
}

func (db *DB) scoped(ctx context.Context, sql string, args []any) pgx.BatchResults {
	b := &pgx.Batch{}
	b.Queue(scopeSQL, scopeArgs(ctx)...)
	b.Queue(sql, args...)
	return db.Pool.SendBatch(ctx, b)
}

// Query runs sql with the scope of ctx. Close the rows (or read them to the end) to
// release the connection, as with pgx.
func (db *DB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	br := db.scoped(ctx, sql, args)
	// The first result also carries the errors of preparing the whole batch (a bad
	// statement), so it is returned as it is.
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		if rows != nil {
			rows.Close()
		}
		_ = br.Close()
		return nil, err
	}
	return &scopedRows{Rows: rows, br: br}, nil
}

// QueryRow runs sql with the scope of ctx; errors are deferred to Scan, as with pgx.
func (db *DB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := db.Query(ctx, sql, args...)
	return &scopedRow{rows: rows, err: err}
}

// Exec runs sql with the scope of ctx.
func (db *DB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br := db.scoped(ctx, sql, args)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// SendBatch runs b with the scope of ctx, as one implicit transaction.
func (db *DB) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	nb := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+1)}
	nb.Queue(scopeSQL, scopeArgs(ctx)...)
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	br := db.Pool.SendBatch(ctx, nb)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return pgx.FailedBatchResults(b, err)
	}
	return br
}

// Begin starts a transaction with the scope of ctx.
func (db *DB) Begin(ctx context.Context) (pgx.Tx, error) {
	return db.BeginTx(ctx, pgx.TxOptions{})
}

// BeginTx starts a transaction with opts and the scope of ctx, in one round trip.
func (db *DB) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	b := &pgx.Batch{}
	b.BeginTx(opts)
	b.Queue(scopeSQL, scopeArgs(ctx)...)
	br := db.Pool.SendBatch(ctx, b)
	tx := br.Tx()
	if err := br.Close(); err != nil {
		if tx != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx)) // releases the connection
		}
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	if tx == nil { // the pool could not even send the batch
		return nil, fmt.Errorf("begin transaction: no transaction")
	}
	return tx, nil
}

// BeginWith starts a transaction with the scope of ctx and runs sql in it, in one
// round trip: BEGIN, the scope and the statement go out as one batch. It returns the
// transaction and the statement's command tag; on an error nothing is left open.
func (db *DB) BeginWith(ctx context.Context, sql string, args ...any) (pgx.Tx, pgconn.CommandTag, error) {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(scopeSQL, scopeArgs(ctx)...)
	b.Queue(sql, args...)
	br := db.Pool.SendBatch(ctx, b)
	tx := br.Tx()
	fail := func(err error) (pgx.Tx, pgconn.CommandTag, error) {
		_ = br.Close()
		if tx != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx)) // releases the connection
		}
		return nil, pgconn.CommandTag{}, err
	}
	for range 2 { // BEGIN, scope
		if _, err := br.Exec(); err != nil {
			return fail(fmt.Errorf("begin transaction: %w", err))
		}
	}
	tag, err := br.Exec()
	if err != nil {
		return fail(err)
	}
	if err := br.Close(); err != nil {
		return fail(err)
	}
	if tx == nil { // the pool could not even send the batch
		return nil, pgconn.CommandTag{}, fmt.Errorf("begin transaction: no transaction")
	}
	return tx, tag, nil
}

// scopedRows releases the batch (and its connection) when the rows are done.
type scopedRows struct {
	pgx.Rows
	br       pgx.BatchResults
	closeErr error
}

func (r *scopedRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *scopedRows) Close() {
	r.Rows.Close()
	if r.br != nil {
		r.closeErr = r.br.Close()
		r.br = nil
	}
}

func (r *scopedRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.closeErr
}

// scopedRow is pgx's QueryRow over scopedRows: ErrNoRows when there is none.
type scopedRow struct {
	rows pgx.Rows
	err  error
}

func (r *scopedRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
