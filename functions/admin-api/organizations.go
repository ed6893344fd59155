package adminapi

import (
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

// organization is bn's shape plus type and parentId (backend-new §2.10).
type organization struct {
	ID           string             `json:"id"`
	Name         string             `json:"name"`
	Type         string             `json:"type"`
	ParentID     *string            `json:"parentId"`
	Description  *string            `json:"description"`
	ContactEmail *string            `json:"contactEmail"`
	ContactPhone *string            `json:"contactPhone"`
	IsActive     bool               `json:"isActive"`
	CreatedAt    httpapi.Timestamp  `json:"createdAt"`
	Address      *string            `json:"address,omitempty"`
	Settings     json.RawMessage    `json:"settings,omitempty"`
	UpdatedAt    *httpapi.Timestamp `json:"updatedAt,omitempty"`
}

const orgColumns = `id::text, name, type, parent_id::text, description, contact_email, contact_phone, is_active,
	created_at, address, settings, updated_at`

func scanOrg(row pgx.Row, detail bool) (organization, error) {
	var o organization
	var created time.Time
	var updated *time.Time
	var addr *string
	var settings json.RawMessage
	err := row.Scan(&o.ID, &o.Name, &o.Type, &o.ParentID, &o.Description, &o.ContactEmail, &o.ContactPhone,
		&o.IsActive, &created, &addr, &settings, &updated)
	o.CreatedAt = httpapi.Timestamp(created)
	if detail {
		o.Address, o.Settings, o.UpdatedAt = addr, settings, httpapi.TimePtr(updated)
	}
	return o, err
}

func (a *API) listOrganizations(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := page(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rows, err := a.db.Query(r.Context(), `SELECT `+orgColumns+` FROM organizations ORDER BY created_at DESC, name
		LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		a.fail(w, r, fmt.Errorf("list organisations: %w", err))
		return
	}
	orgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (organization, error) { return scanOrg(row, false) })
	if err != nil {
		a.fail(w, r, fmt.Errorf("list organisations: %w", err))
		return
	}
	if orgs == nil {
		orgs = []organization{}
	}
	var total int64
	if err := a.db.QueryRow(r.Context(), `SELECT count(*) FROM organizations`).Scan(&total); err != nil {
		a.fail(w, r, fmt.Errorf("count organisations: %w", err))
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"organizations": orgs, "total": total})
}

func loadOrg(r *http.Request, q rowQuerier, id string) (organization, error) {
	if uuid.Validate(id) != nil {
		return organization{}, notFound("Organization")
	}
	o, err := scanOrg(q.QueryRow(r.Context(), `SELECT `+orgColumns+` FROM organizations WHERE id = $1`, id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return organization{}, notFound("Organization")
	}
	if err != nil {
		return organization{}, fmt.Errorf("load organisation %s: %w", id, err)
	}
	return o, nil
}

func (a *API) getOrganization(w http.ResponseWriter, r *http.Request) {
	o, err := loadOrg(r, a.db, r.PathValue("org_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, o)
}

var orgTypes = []string{"enterprise", "site", "production_line", "department"}

// orgChanges reads the writable fields of an organisation body as column -> value.
func orgChanges(b body) (map[string]any, error) {
	out := map[string]any{}
	for _, f := range []struct {
		col   string
		names []string
		max   int
	}{
		{"name", []string{"name"}, 200},
		{"type", []string{"type"}, 30},
		{"parent_id", []string{"parent_id", "parentId"}, 36},
		{"description", []string{"description"}, 1000},
		{"address", []string{"address"}, 500},
		{"contact_email", []string{"contact_email", "contactEmail"}, 254},
		{"contact_phone", []string{"contact_phone", "contactPhone"}, 50},
	} {
		v, present, err := b.str(f.max, f.names...)
		if err != nil {
			return nil, err
		}
		if !present {
			continue
		}
		switch {
		case f.col == "name" && (v == nil || strings.TrimSpace(*v) == ""):
			return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.Missing("body", "name")}}
		case f.col == "type" && (v == nil || !contains(orgTypes, *v)):
			return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.EnumError(v, orgTypes, "body", "type")}}
		case f.col == "parent_id" && v != nil && uuid.Validate(*v) != nil:
			return nil, typeError("parent_id", "organisation id (uuid)", *v)
		}
		out[f.col] = v
	}
	if v, present, err := b.boolean("is_active", "isActive"); err != nil {
		return nil, err
	} else if present {
		out["is_active"] = v
	}
	if v, ok := b.get("settings"); ok {
		m, isObj := v.(map[string]any)
		if !isObj {
			return nil, typeError("settings", "object", v)
		}
		out["settings"] = m
	}
	return out, nil
}

func (a *API) createOrganization(w http.ResponseWriter, r *http.Request) {
	ch, err := readChanges(r, orgChanges)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, ok := ch["name"]; !ok {
		a.fail(w, r, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.Missing("body", "name")}})
		return
	}
	ctx := r.Context()
	// An organisation's scope sees (and may write) its own row only: the policy would
	// refuse the new row; say why instead.
	if err := requireAllOrganizations(ctx, "Creating an organization"); err != nil {
		a.fail(w, r, err)
		return
	}
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	id, err := insertReturningID(ctx, tx, "organizations", ch, "Organization", "Parent organization")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	o, err := loadOrg(r, tx, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e := audit.FromRequest(r, audit.ActionCreate, "organization", id)
	e.Details = "Organisation " + o.Name + " créée"
	e.Changes = map[string]any{"after": ch}
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusCreated, withMessage(o, id, "Organization created successfully"))
}

func (a *API) patchOrganization(w http.ResponseWriter, r *http.Request) {
	ch, err := readChanges(r, orgChanges)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx := r.Context()
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	before, err := loadOrg(r, tx, r.PathValue("org_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if p, ok := ch["parent_id"].(*string); ok && p != nil && *p == before.ID {
		a.fail(w, r, typeError("parent_id", "organisation other than itself", *p))
		return
	}
	// The foreign key would accept any organisation; the parent must be one the caller
	// sees (its own, for an organisation's scope).
	if p, ok := ch["parent_id"].(*string); ok && p != nil {
		if _, err := loadOrg(r, tx, *p); err != nil {
			if se := (*httpapi.StatusError)(nil); errors.As(err, &se) && se.Status == http.StatusNotFound {
				err = notFound("Parent organization")
			}
			a.fail(w, r, err)
			return
		}
	}
	if len(ch) > 0 {
		if err := updateByID(ctx, tx, "organizations", before.ID, ch, "Organization", "Parent organization"); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	after, err := loadOrg(r, tx, before.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e := audit.FromRequest(r, audit.ActionUpdate, "organization", before.ID)
	e.Details = "Organisation " + before.Name + " modifiée (" + keys(ch) + ")"
	e.Changes = map[string]any{"before": before, "after": ch}
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, withMessage(after, after.ID, "Organization updated successfully"))
}

func (a *API) deleteOrganization(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := requireAllOrganizations(ctx, "Deleting an organization"); err != nil {
		a.fail(w, r, err)
		return
	}
	if r.PathValue("org_id") == auth.DefaultOrganizationID {
		a.fail(w, r, httpapi.Errorf(http.StatusConflict, "The default organization cannot be deleted"))
		return
	}
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	before, err := loadOrg(r, tx, r.PathValue("org_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := tx.Exec(ctx, `DELETE FROM organizations WHERE id = $1`, before.ID); err != nil {
		if isFKViolation(err) {
			a.fail(w, r, httpapi.Errorf(http.StatusConflict, "Organization still owns devices, users, credentials or reports"))
			return
		}
		a.fail(w, r, fmt.Errorf("delete organisation: %w", err))
		return
	}
	e := audit.FromRequest(r, audit.ActionDelete, "organization", before.ID)
	e.Details = "Organisation " + before.Name + " supprimée"
	e.Changes = map[string]any{"before": before}
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]string{"message": "Organization deleted successfully"})
}
