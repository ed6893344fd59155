package adminapi

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
)

// insertReturningID inserts the columns of ch into table and returns the new row's id.
// Columns come sorted so that the statement text, and so pgx's cached statement, is the
// same for the same set of fields. Column names are the handlers' own (never the client's).
func insertReturningID(ctx context.Context, tx pgx.Tx, table string, ch map[string]any) (string, error) {
	cols, ph, args := []string{}, []string{}, []any{}
	for _, k := range sortedKeys(ch) {
		args = append(args, ch[k])
		cols, ph = append(cols, k), append(ph, fmt.Sprintf("$%d", len(args)))
	}
	var id string
	err := tx.QueryRow(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES (`+strings.Join(ph, ", ")+`) RETURNING id::text`, args...).Scan(&id)
	return id, err
}

// commitAudited records e in tx and commits: a change and its audit row land together
// or not at all.
func commitAudited(ctx context.Context, tx pgx.Tx, e audit.Entry) error {
	if err := audit.Record(ctx, tx, e); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
