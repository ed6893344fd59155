package auth

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/tenant"
)

// loginRecorder mirrors identified callers into the users table and audits a login for
// each new session (backend-new §2.9, §3.6: "first request with a new token"). The
// in-memory set makes it one database round trip per token and instance; the
// last_session column makes the login row unique across instances.
type loginRecorder struct {
	db     *database.DB
	logger *slog.Logger
	mu     sync.Mutex
	known  map[string]struct{}
}

func newLoginRecorder(db *database.DB, logger *slog.Logger) *loginRecorder {
	return &loginRecorder{db: db, logger: logger, known: map[string]struct{}{}}
}

// sessionOf identifies a token's session: Keycloak's sid, else the issue time.
func sessionOf(id *Identity) string {
	if id.SessionID != "" {
		return id.SessionID
	}
	return "iat:" + strconv.FormatInt(id.IssuedAt.Unix(), 10)
}

// seen is called for every identified request; it must not fail the request.
func (l *loginRecorder) seen(r *http.Request, id *Identity) {
	key := id.Subject + "|" + sessionOf(id)
	l.mu.Lock()
	_, done := l.known[key]
	if !done {
		if len(l.known) > 10000 { // bounded: forgetting only costs one upsert per token
			clear(l.known)
		}
		l.known[key] = struct{}{}
	}
	l.mu.Unlock()
	if done {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
	defer cancel()
	if err := l.record(ctx, r, id); err != nil {
		l.mu.Lock()
		delete(l.known, key) // retry on the next request
		l.mu.Unlock()
		l.logger.WarnContext(ctx, "recording login failed", "user", id.DisplayName(), "error", err)
	}
}

// IsStaff is the dashboard's "Admin" badge: super_admin or org_admin (or legacy admin).
func IsStaff(roles []string) bool {
	return slices.Contains(roles, "super_admin") || slices.Contains(roles, "org_admin") || slices.Contains(roles, "admin")
}

func (l *loginRecorder) record(ctx context.Context, r *http.Request, id *Identity) error {
	tx, err := l.db.Begin(tenant.With(ctx, id.Scope()))
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	username := id.Username
	if username == "" {
		username = id.Subject
	}
	var newSession bool
	var userID string
	err = tx.QueryRow(ctx, `
		INSERT INTO users AS u (username, email, first_name, last_name, is_staff, roles, organization_id, source,
			last_login, last_session)
		VALUES ($1, NULLIF($2,''), NULLIF($3,''), NULLIF($4,''), $5, $6,
			(SELECT id FROM organizations WHERE id::text = $7), 'token', now(), $8)
		ON CONFLICT (username) DO UPDATE SET
			email = COALESCE(EXCLUDED.email, u.email), first_name = COALESCE(EXCLUDED.first_name, u.first_name),
			last_name = COALESCE(EXCLUDED.last_name, u.last_name), is_staff = EXCLUDED.is_staff,
			roles = EXCLUDED.roles, organization_id = COALESCE(EXCLUDED.organization_id, u.organization_id),
			last_login = CASE WHEN u.last_session IS DISTINCT FROM EXCLUDED.last_session THEN now() ELSE u.last_login END,
			last_session = EXCLUDED.last_session, updated_at = now()
		RETURNING id::text, (xmax = 0 OR u.last_login = now())`,
		username, id.Email, id.GivenName, id.FamilyName, IsStaff(id.Roles), nonNil(id.Roles), firstOrg(id),
		sessionOf(id)).Scan(&userID, &newSession)
	if err != nil {
		return fmt.Errorf("upsert user %s: %w", username, err)
	}
	if newSession {
		e := audit.FromRequest(r, audit.ActionLogin, "auth", userID)
		e.UserID, e.UserName, e.OrganizationID = id.Subject, id.DisplayName(), firstOrg(id)
		e.Details = "Connexion de " + id.DisplayName() + " (" + id.Issuer + ")"
		if err := audit.Record(ctx, tx, e); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func firstOrg(id *Identity) string {
	if len(id.Organizations) > 0 {
		return id.Organizations[0]
	}
	return DefaultOrganizationID
}
