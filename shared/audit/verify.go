package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/tenant"
)

// Querier runs a query (pool, connection or transaction).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Report is the result of Verify. Valid, BrokenAt, BrokenID and Reason sum the chains
// up (the first broken row in seq order); Chains has the detail of each organisation's
// chain.
type Report struct {
	Valid    bool          `json:"valid"`
	Checked  int64         `json:"checked"`
	Head     string        `json:"head,omitempty"` // hex hash of the last row, when there is one chain
	BrokenAt *int64        `json:"brokenAt,omitempty"`
	BrokenID string        `json:"brokenId,omitempty"`
	Reason   string        `json:"reason,omitempty"`
	Chains   []ChainReport `json:"chains"`
}

// ChainReport is the verification of one organisation's chain.
type ChainReport struct {
	OrganizationID *string `json:"organizationId"` // null: the chain of system work
	Valid          bool    `json:"valid"`
	Checked        int64   `json:"checked"`
	Head           string  `json:"head,omitempty"` // hex hash of the chain's last row
	BrokenAt       *int64  `json:"brokenAt,omitempty"`
	BrokenID       string  `json:"brokenId,omitempty"`
	Reason         string  `json:"reason,omitempty"`

	head    []byte
	pending []link // links to rows the scope does not see, checked after the walk
}

// link is a row whose prev_hash names no row of the scope, and the row of the scope
// before it (seq 0 and the genesis when none).
type link struct {
	seq       int64
	id        string
	prev      []byte
	afterSeq  int64
	afterHash []byte
}

// Verify walks the chains it can see in order and reports, for each organisation's
// chain, the first row whose stored hash differs from the recomputed one (an edited
// row) or whose prev_hash is not the hash of the row before it (a deleted or inserted
// row). Under row-level security db shows the rows of its scope: an organisation
// verifies its own chain, a cross-organisation scope verifies every chain (including
// the one of system work, organization_id NULL).
//
// The row before a row is the previous row of its organisation (Record since migration
// 00060) or, for the rows written before organisations, the previous row of the single
// global chain they were appended to: the row just before it in seq order. Either link
// names the hash of a row that exists (hashes are unique), so a deleted row is still
// found: the row after it names a hash no row has any more. A pre-organisation row that
// followed a row of another organisation (or of none) links to a row the scope of an
// organisation does not see: Verify then checks that the rows it does not see between
// the previous row it sees and this one form an unbroken global chain (their prev_hash
// and hash only, read in the cross-organisation scope: nothing else of them reaches the
// caller), so a deleted row of the organisation is still found. With a db that cannot
// widen its scope (a transaction), such a link is reported broken.
//
// Limit: removing the newest rows leaves a shorter chain that still verifies;
// compare the heads with a copy kept elsewhere (logs, an external store) to detect that.
func Verify(ctx context.Context, db Querier) (Report, error) {
	rows, err := db.Query(ctx, `SELECT seq, id, timestamp, user_id, user_name, action, resource_type, resource_id,
		ip_address, user_agent, request_id, details, changes, status, error_message, organization_id, prev_hash, hash
		FROM audit_log ORDER BY seq`)
	if err != nil {
		return Report{}, fmt.Errorf("audit: read chain: %w", err)
	}
	defer rows.Close()
	genesis := make([]byte, sha256.Size)
	last := genesis // hash of the previous row seen, any organisation (the global chain)
	var lastSeq int64
	chains := map[string]*ChainReport{}
	var order []*ChainReport
	rep := Report{Valid: true}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Seq, &r.ID, &r.Timestamp, &r.UserID, &r.UserName, &r.Action, &r.ResourceType,
			&r.ResourceID, &r.IPAddress, &r.UserAgent, &r.RequestID, &r.Details, &r.Changes, &r.Status,
			&r.ErrorMessage, &r.OrganizationID, &r.PrevHash, &r.Hash); err != nil {
			return Report{}, fmt.Errorf("audit: scan chain: %w", err)
		}
		rep.Checked++
		key := ""
		if r.OrganizationID != nil {
			key = r.OrganizationID.String()
		}
		c := chains[key]
		if c == nil {
			c = &ChainReport{Valid: true, head: genesis}
			if r.OrganizationID != nil {
				c.OrganizationID = &key
			}
			chains[key] = c
			order = append(order, c)
		}
		prevRow, prevSeq := last, lastSeq
		last, lastSeq = r.Hash, r.Seq
		if !c.Valid {
			continue // the first broken link of each chain is reported
		}
		c.Checked++
		reason := ""
		switch {
		case !bytes.Equal(r.hash(r.PrevHash), r.Hash):
			reason = "hash mismatch: the row was modified"
		case !bytes.Equal(r.PrevHash, c.head) && !bytes.Equal(r.PrevHash, prevRow):
			// Either a broken link or a pre-organisation link to a row out of sight:
			// told apart once the rows are read (db is busy with them now).
			c.pending = append(c.pending, link{seq: r.Seq, id: r.ID.String(), prev: r.PrevHash, afterSeq: prevSeq, afterHash: prevRow})
		}
		if reason != "" {
			seq := r.Seq
			c.Valid, c.BrokenAt, c.BrokenID, c.Reason = false, &seq, r.ID.String(), reason
			continue
		}
		c.head = r.Hash
	}
	if err := rows.Err(); err != nil {
		return Report{}, fmt.Errorf("audit: read chain: %w", err)
	}
	rows.Close()
	for _, c := range order {
		for _, l := range c.pending {
			ok, err := globalLink(ctx, db, l)
			if err != nil {
				return Report{}, err
			}
			if ok {
				continue
			}
			if c.Valid || *c.BrokenAt > l.seq {
				seq := l.seq
				c.Valid, c.BrokenAt, c.BrokenID = false, &seq, l.id
				c.Reason = "previous hash mismatch: a row before it was deleted, inserted or rewritten"
			}
			break
		}
		if !c.Valid && (rep.Valid || *rep.BrokenAt > *c.BrokenAt) {
			rep.Valid, rep.BrokenAt, rep.BrokenID, rep.Reason = false, c.BrokenAt, c.BrokenID, c.Reason
		}
	}
	rep.Chains = make([]ChainReport, 0, len(order))
	for _, c := range order {
		if c.Valid {
			c.Head = fmt.Sprintf("%x", c.head)
		}
		rep.Chains = append(rep.Chains, *c)
	}
	if len(rep.Chains) == 1 {
		rep.Head = rep.Chains[0].Head
	}
	return rep, nil
}

// globalLink reports whether l links to the row of the scope before it through the
// rows between them the scope does not see, each linking to the one before it: the
// single chain rows were appended to before organisations. Those rows may belong to
// other organisations (or to none), so they are read in the cross-organisation scope;
// only their hashes are compared.
func globalLink(ctx context.Context, db Querier, l link) (bool, error) {
	rows, err := db.Query(tenant.With(ctx, tenant.All()), `SELECT prev_hash, hash FROM audit_log
		WHERE seq > $1 AND seq < $2 ORDER BY seq`, l.afterSeq, l.seq)
	if err != nil {
		return false, fmt.Errorf("audit: read the rows before %d: %w", l.seq, err)
	}
	defer rows.Close()
	want := l.afterHash
	for rows.Next() {
		var prev, hash []byte
		if err := rows.Scan(&prev, &hash); err != nil {
			return false, fmt.Errorf("audit: read the rows before %d: %w", l.seq, err)
		}
		if !bytes.Equal(prev, want) {
			return false, nil
		}
		want = hash
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("audit: read the rows before %d: %w", l.seq, err)
	}
	return bytes.Equal(want, l.prev), nil
}
