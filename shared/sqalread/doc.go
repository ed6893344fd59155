// Package sqalread holds the read-side shapes of SQAL quality data that several
// functions put on the wire — SampleDict, AlertDB and DeviceDB of the SQAL contract
// (§5.2) — with the SQL column lists and scan functions that build them from
// sensor_samples, sqal_alerts and sqal_devices rows.
//
// The shapes live here, not in one function, because the HTTP read API (sqal-api) and
// the realtime WebSocket (latest_sample and alert messages) must emit byte-identical
// objects.
package sqalread

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what the read functions need from a database handle; *database.DB,
// *pgxpool.Pool, *pgx.Conn and pgx.Tx all satisfy it. The functions read tenant tables,
// so pass the *database.DB (or a transaction it began) with the organisation scope in
// ctx: under the application role a bare pool sees no rows.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}
