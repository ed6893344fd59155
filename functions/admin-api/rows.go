package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// insertReturningID inserts the columns of ch into table and returns the new row's id.
// Columns come sorted so that the statement text, and so pgx's cached statement, is the
// same for the same set of fields. Column names are the handlers' own (never the client's).
// Errors are mapped as in updateByID.
func insertReturningID(ctx context.Context, tx pgx.Tx, table string, ch map[string]any, what, referenced string) (string, error) {
	cols, ph, args := []string{}, []string{}, []any{}
	for _, k := range sortedKeys(ch) {
		args = append(args, ch[k])
		cols, ph = append(cols, k), append(ph, fmt.Sprintf("$%d", len(args)))
	}
	var id string
	err := tx.QueryRow(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES (`+strings.Join(ph, ", ")+`) RETURNING id::text`, args...).Scan(&id)
	return id, writeError(err, table, what, referenced)
}

// updateByID sets the columns of ch (and updated_at) on the row id of table, with the
// same column conventions as insertReturningID. A unique violation answers 409 "<what>
// already exists", a foreign key violation 404 "<referenced> not found".
func updateByID(ctx context.Context, tx pgx.Tx, table, id string, ch map[string]any, what, referenced string) error {
	sets, args := []string{}, []any{id}
	for _, k := range sortedKeys(ch) {
		args = append(args, ch[k])
		sets = append(sets, fmt.Sprintf("%s = $%d", k, len(args)))
	}
	_, err := tx.Exec(ctx, `UPDATE `+table+` SET `+strings.Join(sets, ", ")+`, updated_at = now() WHERE id = $1`, args...)
	return writeError(err, table, what, referenced)
}

// writeError maps a write's error: a unique violation is 409 "<what> already exists", a
// foreign key violation 404 "<referenced> not found", anything else stays a 500.
func writeError(err error, table, what, referenced string) error {
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return httpapi.Errorf(http.StatusConflict, "%s already exists", what)
	case isFKViolation(err):
		return notFound(referenced)
	}
	return fmt.Errorf("write %s: %w", table, err)
}

// commitAudited records e in tx and commits: a change and its audit row land together
// or not at all.
func commitAudited(ctx context.Context, tx pgx.Tx, e audit.Entry) error {
	if err := audit.Record(ctx, tx, e); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
