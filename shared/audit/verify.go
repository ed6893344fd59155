package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query (pool, connection or transaction).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Report is the result of Verify.
type Report struct {
	Valid    bool   `json:"valid"`
	Checked  int64  `json:"checked"`
	Head     string `json:"head,omitempty"` // hex hash of the last row
	BrokenAt *int64 `json:"brokenAt,omitempty"`
	BrokenID string `json:"brokenId,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Verify walks the whole chain in order and reports the first row whose stored hash
// differs from the recomputed one (an edited row) or whose prev_hash is not the hash
// of the row before it (a deleted or inserted row).
//
// Limit: removing the newest rows leaves a shorter chain that still verifies;
// compare Head with a copy kept elsewhere (logs, an external store) to detect that.
func Verify(ctx context.Context, db Querier) (Report, error) {
	rows, err := db.Query(ctx, `SELECT seq, id, timestamp, user_id, user_name, action, resource_type, resource_id,
		ip_address, user_agent, request_id, details, changes, status, error_message, organization_id, prev_hash, hash
		FROM audit_log ORDER BY seq`)
	if err != nil {
		return Report{}, fmt.Errorf("audit: read chain: %w", err)
	}
	defer rows.Close()
	prev := make([]byte, sha256.Size)
	rep := Report{Valid: true}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Seq, &r.ID, &r.Timestamp, &r.UserID, &r.UserName, &r.Action, &r.ResourceType,
			&r.ResourceID, &r.IPAddress, &r.UserAgent, &r.RequestID, &r.Details, &r.Changes, &r.Status,
			&r.ErrorMessage, &r.OrganizationID, &r.PrevHash, &r.Hash); err != nil {
			return Report{}, fmt.Errorf("audit: scan chain: %w", err)
		}
		rep.Checked++
		reason := ""
		switch {
		case !bytes.Equal(r.PrevHash, prev):
			reason = "previous hash mismatch: a row before it was deleted, inserted or rewritten"
		case !bytes.Equal(r.hash(prev), r.Hash):
			reason = "hash mismatch: the row was modified"
		}
		if reason != "" {
			seq := r.Seq
			rep.Valid, rep.BrokenAt, rep.BrokenID, rep.Reason = false, &seq, r.ID.String(), reason
			rows.Close()
			return rep, rows.Err()
		}
		prev = r.Hash
	}
	if err := rows.Err(); err != nil {
		return Report{}, fmt.Errorf("audit: read chain: %w", err)
	}
	if rep.Checked > 0 {
		rep.Head = fmt.Sprintf("%x", prev)
	}
	return rep, nil
}
