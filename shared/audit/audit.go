// Package audit writes and verifies the product's audit trail: an append-only table
// (migration 00030: no UPDATE/DELETE grant, triggers refusing them) in which each row
// carries hash = SHA-256(prev_hash || canonical row). Editing or deleting a row breaks
// the chain from that row on, which Verify reports.
//
// There is one chain per organisation (migration 00060): a row's prev_hash is the hash
// of the previous row of the same organisation, so appends of different organisations
// do not serialise on each other and an organisation, which sees only its own rows
// under row-level security, can verify its own chain. Rows of system work that acts for
// no organisation form one more chain (organization_id NULL), visible to
// cross-organisation scopes only. Rows written before organisations formed a single
// global chain; Verify accepts their links (see Verify).
//
// Writers (logins, admin changes, device credentials, model activations, alert
// acknowledgements) call Record with an Entry built by FromRequest, which fills the
// actor (put in the context by the auth middleware), request id and source address.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/telemetry"
	"github.com/sqalfn/sqal/shared/tenant"
)

// Actions the dashboard filters on (backend-new §3.6), plus verbs of this product.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
	ActionLogin  = "login"
	ActionLogout = "logout"
)

// Entry is one audited action.
type Entry struct {
	ID             uuid.UUID
	Timestamp      time.Time
	UserID         string
	UserName       string
	Action         string
	ResourceType   string
	ResourceID     string
	IPAddress      string
	UserAgent      string
	RequestID      string
	Details        string // human summary (the dashboard renders it as text)
	Changes        any    // before/after, stored as JSON text
	Status         string // success | failed
	ErrorMessage   string
	OrganizationID string
}

// Actor is who acts; the auth middleware stores it in the request context.
type Actor struct {
	ID             string
	Name           string
	OrganizationID string
}

type actorKey struct{}

// WithActor returns ctx carrying the actor of the request.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor of ctx ("anonymous" when none).
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok && a.Name != "" {
		return a
	}
	return Actor{Name: "anonymous"}
}

// FromRequest starts an entry for r: actor, request id, source address, user agent.
func FromRequest(r *http.Request, action, resourceType, resourceID string) Entry {
	a := ActorFrom(r.Context())
	return Entry{UserID: a.ID, UserName: a.Name, OrganizationID: a.OrganizationID, Action: action,
		ResourceType: resourceType, ResourceID: resourceID, IPAddress: ClientIP(r), UserAgent: r.UserAgent(),
		RequestID: telemetry.RequestID(r.Context())}
}

// ClientIP is the first address of X-Forwarded-For (set by the gateway, which
// appends the peer it saw), else the peer address.
func ClientIP(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
			return ip.String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Beginner starts a transaction: a pool, a connection, or a transaction (savepoint),
// so an audit row can be written inside the caller's own transaction.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// chainLock seeds the advisory lock that serialises the appends of one chain: each
// row's hash depends on the previous row of its organisation. The lock key is a hash of
// the organisation, so two organisations rarely wait for each other (a collision only
// serialises them, it cannot fork a chain).
const chainLock = 0x5341_4c41_5544 // "SQALAUD"

// Organization is the chain e is appended to: e.OrganizationID (the actor's organisation,
// FromRequest), else the organisation of the scope of ctx (tenant.From), else none (NULL:
// system work acting for no organisation, which needs a cross-organisation scope to be
// written under row-level security).
func Organization(ctx context.Context, e Entry) *uuid.UUID {
	if id, err := uuid.Parse(e.OrganizationID); err == nil {
		return &id
	}
	if s, ok := tenant.From(ctx); ok && !s.All {
		if id, err := uuid.Parse(s.Organization); err == nil {
			return &id
		}
	}
	return nil
}

// Record appends e to its organisation's chain (Organization). db is a *database.DB (or
// a transaction begun on one) carrying the scope of ctx: under row-level security the
// chain head is read among the rows of that scope, which always include the rows of the
// scope's own organisation. Inside the caller's transaction the row commits or rolls
// back with the caller's change.
func Record(ctx context.Context, db Beginner, e Entry) error {
	if e.Action == "" || e.ResourceType == "" {
		return errors.New("audit: entry needs an action and a resource type")
	}
	if e.ID == uuid.Nil {
		e.ID = uuid.New()
	}
	if e.Timestamp.IsZero() {
		e.Timestamp = time.Now()
	}
	// PostgreSQL keeps microseconds: hash what will be read back.
	e.Timestamp = e.Timestamp.UTC().Truncate(time.Microsecond)
	if e.UserName == "" {
		e.UserName = "anonymous"
	}
	if e.Status == "" {
		e.Status = "success"
	}
	e.UserAgent = truncate(e.UserAgent, 500)
	e.ErrorMessage = truncate(e.ErrorMessage, 1000)
	var changes *string
	if e.Changes != nil {
		b, err := json.Marshal(e.Changes)
		if err != nil {
			return fmt.Errorf("audit: encode changes: %w", err)
		}
		s := string(b)
		changes = &s
	}
	row := rowOf(e, changes)
	row.OrganizationID = Organization(ctx, e)
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("audit: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var org *string // the chain's key: the organisation as text, nil for NULL
	if row.OrganizationID != nil {
		s := row.OrganizationID.String()
		org = &s
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(COALESCE($1::text, ''), $2))`,
		org, int64(chainLock)); err != nil {
		return fmt.Errorf("audit: lock chain: %w", err)
	}
	prev := make([]byte, sha256.Size) // genesis
	err = tx.QueryRow(ctx, `SELECT hash FROM audit_log WHERE organization_id IS NOT DISTINCT FROM $1::uuid
		ORDER BY seq DESC LIMIT 1`, org).Scan(&prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("audit: read chain head: %w", err)
	}
	hash := row.hash(prev)
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (id, timestamp, user_id, user_name, action, resource_type,
		resource_id, ip_address, user_agent, request_id, details, changes, status, error_message, organization_id,
		prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`,
		e.ID, e.Timestamp, row.UserID, row.UserName, row.Action, row.ResourceType, row.ResourceID, row.IPAddress,
		row.UserAgent, row.RequestID, row.Details, row.Changes, row.Status, row.ErrorMessage, row.OrganizationID, prev, hash)
	if err != nil {
		return fmt.Errorf("audit: insert %s %s: %w", e.Action, e.ResourceType, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("audit: commit: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// row is the stored form of an entry; nullable columns are pointers.
type row struct {
	Seq            int64
	ID             uuid.UUID
	Timestamp      time.Time
	UserID         *string
	UserName       string
	Action         string
	ResourceType   string
	ResourceID     *string
	IPAddress      *string
	UserAgent      *string
	RequestID      *string
	Details        *string
	Changes        *string
	Status         string
	ErrorMessage   *string
	OrganizationID *uuid.UUID
	PrevHash       []byte
	Hash           []byte
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func rowOf(e Entry, changes *string) row {
	r := row{ID: e.ID, Timestamp: e.Timestamp, UserID: opt(e.UserID), UserName: e.UserName, Action: e.Action,
		ResourceType: e.ResourceType, ResourceID: opt(e.ResourceID), IPAddress: opt(e.IPAddress),
		UserAgent: opt(e.UserAgent), RequestID: opt(e.RequestID), Details: opt(e.Details), Changes: changes,
		Status: e.Status, ErrorMessage: opt(e.ErrorMessage)}
	if id, err := uuid.Parse(e.OrganizationID); err == nil {
		r.OrganizationID = &id
	}
	return r
}

// canonical is the byte form a row's hash covers: a JSON array of every column but
// seq and the hashes, in a fixed order, the timestamp in microseconds since the epoch.
func (r row) canonical() []byte {
	var org *string
	if r.OrganizationID != nil {
		s := r.OrganizationID.String()
		org = &s
	}
	b, _ := json.Marshal([]any{r.ID.String(), r.Timestamp.UnixMicro(), r.UserID, r.UserName, r.Action,
		r.ResourceType, r.ResourceID, r.IPAddress, r.UserAgent, r.RequestID, r.Details, r.Changes, r.Status,
		r.ErrorMessage, org})
	return b
}

func (r row) hash(prev []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(r.canonical())
	return h.Sum(nil)
}
