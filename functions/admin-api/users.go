package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/auth"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// user is the users mirror as the Users page reads it (backend-new §2.9, M2).
type user struct {
	ID             string             `json:"id"`
	Username       string             `json:"username"`
	Email          *string            `json:"email"`
	FirstName      *string            `json:"firstName"`
	LastName       *string            `json:"lastName"`
	IsActive       bool               `json:"isActive"`
	IsStaff        bool               `json:"isStaff"`
	Roles          []string           `json:"roles"`
	LastLogin      *httpapi.Timestamp `json:"lastLogin"`
	DateJoined     httpapi.Timestamp  `json:"dateJoined"`
	Source         string             `json:"source"`
	OrganizationID *string            `json:"organizationId,omitempty"`
	Preferences    json.RawMessage    `json:"preferences,omitempty"`
}

const userColumns = `id::text, username, email, first_name, last_name, is_active, is_staff, roles, last_login,
	date_joined, source, organization_id::text, preferences`

func scanUser(row pgx.Row, detail bool) (user, error) {
	var u user
	var last *time.Time
	var joined time.Time
	var org *string
	var prefs json.RawMessage
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.IsActive, &u.IsStaff, &u.Roles,
		&last, &joined, &u.Source, &org, &prefs)
	u.LastLogin, u.DateJoined = httpapi.TimePtr(last), httpapi.Timestamp(joined)
	if u.Roles == nil {
		u.Roles = []string{}
	}
	if detail {
		u.OrganizationID, u.Preferences = org, prefs
	}
	return u, err
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := page(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.keycloak.maybeSync(r.Context()); err != nil {
		// The mirror is still served: the page must not fail with Keycloak.
		a.log.WarnContext(r.Context(), "keycloak users sync failed", "error", err)
	}
	rows, err := a.db.Query(r.Context(), `SELECT `+userColumns+` FROM users ORDER BY date_joined DESC, username
		LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		a.fail(w, r, fmt.Errorf("list users: %w", err))
		return
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (user, error) { return scanUser(row, false) })
	if err != nil {
		a.fail(w, r, fmt.Errorf("list users: %w", err))
		return
	}
	if users == nil {
		users = []user{}
	}
	var total, active int64
	if err := a.db.QueryRow(r.Context(), `SELECT count(*), count(*) FILTER (WHERE is_active) FROM users`).Scan(&total, &active); err != nil {
		a.fail(w, r, fmt.Errorf("count users: %w", err))
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"users": users, "total": total, "active": active})
}

type rowQuerier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

func loadUser(ctx context.Context, q rowQuerier, id string) (user, error) {
	if uuid.Validate(id) != nil {
		return user{}, notFound("User")
	}
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return user{}, notFound("User")
	}
	if err != nil {
		return user{}, fmt.Errorf("load user %s: %w", id, err)
	}
	return u, nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := loadUser(r.Context(), a.db, r.PathValue("user_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, u)
}

// userFields maps body keys (snake_case and camelCase) to columns.
var userFields = []struct {
	col   string
	names []string
	max   int
}{
	{"username", []string{"username"}, 150},
	{"email", []string{"email"}, 254},
	{"first_name", []string{"first_name", "firstName"}, 150},
	{"last_name", []string{"last_name", "lastName"}, 150},
	{"organization_id", []string{"organization_id", "organizationId"}, 36},
}

// userChanges reads the writable fields of a user body as column -> value.
func userChanges(b body) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range userFields {
		v, present, err := b.str(f.max, f.names...)
		if err != nil {
			return nil, err
		}
		if !present {
			continue
		}
		if f.col == "organization_id" && v != nil && uuid.Validate(*v) != nil {
			return nil, typeError("organization_id", "organisation id (uuid)", *v)
		}
		if f.col == "username" && (v == nil || strings.TrimSpace(*v) == "") {
			return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.Missing("body", "username")}}
		}
		out[f.col] = v
	}
	for _, f := range []struct {
		col   string
		names []string
	}{{"is_active", []string{"is_active", "isActive"}}, {"is_staff", []string{"is_staff", "isStaff"}}} {
		v, present, err := b.boolean(f.names...)
		if err != nil {
			return nil, err
		}
		if present {
			out[f.col] = v
		}
	}
	roles, present, err := b.strings("roles")
	if err != nil {
		return nil, err
	}
	if present {
		out["roles"] = roles
	}
	return out, nil
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	ch, err := readChanges(r, userChanges)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, ok := ch["username"]; !ok {
		a.fail(w, r, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.Missing("body", "username")}})
		return
	}
	if roles, ok := ch["roles"].([]string); ok {
		if _, set := ch["is_staff"]; !set {
			ch["is_staff"] = auth.IsStaff(roles)
		}
	}
	ctx := r.Context()
	// The user joins the caller's organisation (a super_admin names one, else the default
	// organisation).
	if err := a.resolveUserOrganization(ctx, ch, false); err != nil {
		a.fail(w, r, err)
		return
	}
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	id, err := insertReturningID(ctx, tx, "users", ch, "User", "Organization")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := loadUser(ctx, tx, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e := audit.FromRequest(r, audit.ActionCreate, "user", id)
	e.Details = "Utilisateur " + u.Username + " créé"
	e.Changes = map[string]any{"after": ch}
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusCreated, withMessage(u, id, "User created successfully"))
}

// resolveUserOrganization sets ch's organization_id to the organisation the user belongs
// to (targetOrganization): on a create always, on an update only when the body names one
// (moving a user to another organisation is the super_admin's).
func (a *API) resolveUserOrganization(ctx context.Context, ch map[string]any, update bool) error {
	v, present := ch["organization_id"]
	if !present && update {
		return nil
	}
	var requested *string
	if present {
		requested, _ = v.(*string)
		if requested == nil {
			return typeError("organization_id", "organisation id (uuid)", nil)
		}
	}
	org, err := targetOrganization(ctx, a.db, requested)
	if err != nil {
		return err
	}
	ch["organization_id"] = org
	return nil
}

func (a *API) patchUser(w http.ResponseWriter, r *http.Request) {
	ch, err := readChanges(r, userChanges)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx := r.Context()
	if err := a.resolveUserOrganization(ctx, ch, true); err != nil {
		a.fail(w, r, err)
		return
	}
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	before, err := loadUser(ctx, tx, r.PathValue("user_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(ch) > 0 {
		if err := updateByID(ctx, tx, "users", before.ID, ch, "User", "Organization"); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	after, err := loadUser(ctx, tx, before.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e := audit.FromRequest(r, audit.ActionUpdate, "user", before.ID)
	e.Details = "Utilisateur " + before.Username + " modifié (" + keys(ch) + ")"
	e.Changes = map[string]any{"before": before, "after": ch}
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, withMessage(after, after.ID, "User updated successfully"))
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	before, err := loadUser(ctx, tx, r.PathValue("user_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, before.ID); err != nil {
		a.fail(w, r, fmt.Errorf("delete user: %w", err))
		return
	}
	e := audit.FromRequest(r, audit.ActionDelete, "user", before.ID)
	e.Details = "Utilisateur " + before.Username + " supprimé"
	e.Changes = map[string]any{"before": before}
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]string{"message": "User deleted successfully"})
}

// me is the caller as the middleware identified it, with its permissions (what the
// dashboard needs to gate its menus on the server's table rather than its own copy).
func (a *API) me(w http.ResponseWriter, r *http.Request) {
	id := auth.FromContext(r.Context())
	if id == nil || id.Anonymous {
		httpapi.JSON(w, http.StatusOK, map[string]any{"anonymous": true, "username": "anonymous",
			"roles": []string{}, "permissions": []string{string(auth.All)}, "organizationIds": []string{auth.DefaultOrganizationID}})
		return
	}
	orgs := id.Organizations
	if len(orgs) == 0 {
		orgs = []string{auth.DefaultOrganizationID}
	}
	roles := id.Roles
	if roles == nil {
		roles = []string{}
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"anonymous": false, "id": id.Subject, "username": id.Username,
		"email": id.Email, "firstName": id.GivenName, "lastName": id.FamilyName, "roles": roles,
		"clientRoles": id.ClientRoles, "permissions": id.Permissions(), "isStaff": auth.IsStaff(id.Roles),
		"organizationIds": orgs})
}

// withMessage is the contract's create/update answer: {id, message} plus the object.
func withMessage(v any, id, msg string) map[string]any {
	out := map[string]any{}
	b, _ := json.Marshal(v)
	_ = json.Unmarshal(b, &out)
	out["id"], out["message"] = id, msg
	return out
}
