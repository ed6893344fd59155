package adminapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// settingKinds are the settings the page edits and the JSON kind each must have
// (backend-new §2.12; persisted, unlike bn).
var settingKinds = map[string]string{"systemName": "string", "timezone": "string", "language": "string", "maintenanceMode": "bool"}

func (a *API) loadSettings(r *http.Request) (map[string]any, error) {
	rows, err := a.db.Query(r.Context(), `SELECT key, value FROM admin_settings`)
	if err != nil {
		return nil, fmt.Errorf("load settings: %w", err)
	}
	defer rows.Close()
	out := map[string]any{}
	for rows.Next() {
		var k string
		var v json.RawMessage
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		var val any
		_ = json.Unmarshal(v, &val)
		out[k] = val
	}
	return out, rows.Err()
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request) {
	s, err := a.loadSettings(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, s)
}

func (a *API) patchSettings(w http.ResponseWriter, r *http.Request) {
	b, err := decodeBody(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var items []httpapi.ErrorItem
	for k, v := range b {
		kind, known := settingKinds[k]
		_, isStr := v.(string)
		_, isBool := v.(bool)
		switch {
		case !known:
			items = append(items, httpapi.ErrorItem{Type: "extra_forbidden", Loc: []any{"body", k}, Msg: "Unknown setting", Input: v})
		case kind == "string" && (!isStr || len(v.(string)) > 200):
			items = append(items, httpapi.ErrorItem{Type: "string_type", Loc: []any{"body", k}, Msg: "Input should be a valid string", Input: v})
		case kind == "bool" && !isBool:
			items = append(items, httpapi.BoolParsing(v, "body", k))
		}
	}
	if len(items) > 0 {
		a.fail(w, r, &httpapi.ValidationError{Items: items})
		return
	}
	ctx := r.Context()
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	actor := audit.ActorFrom(ctx).Name
	for _, k := range sortedKeys(b) {
		v, _ := json.Marshal(b[k])
		if _, err := tx.Exec(ctx, `INSERT INTO admin_settings (key, value, updated_at, updated_by) VALUES ($1, $2, now(), $3)
			ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by`,
			k, v, actor); err != nil {
			a.fail(w, r, fmt.Errorf("save setting %s: %w", k, err))
			return
		}
	}
	e := audit.FromRequest(r, audit.ActionUpdate, "settings", "")
	e.Details = "Paramètres modifiés (" + keys(b) + ")"
	e.Changes = map[string]any{"after": map[string]any(b)}
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.loadSettings(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s["message"] = "Settings updated successfully"
	httpapi.JSON(w, http.StatusOK, s)
}
