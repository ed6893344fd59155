package adminapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// auditLog is one row as the Audit page reads it (backend-new §2.11, M3): details is a
// string (an object crashes the page), action never null.
type auditLog struct {
	ID           string            `json:"id"`
	Timestamp    httpapi.Timestamp `json:"timestamp"`
	UserID       *string           `json:"userId"`
	UserName     string            `json:"userName"`
	Action       string            `json:"action"`
	ResourceType string            `json:"resourceType"`
	ResourceID   *string           `json:"resourceId"`
	IPAddress    *string           `json:"ipAddress"`
	UserAgent    *string           `json:"userAgent"`
	RequestID    *string           `json:"requestId"`
	Details      *string           `json:"details"`
	Changes      *string           `json:"changes"`
	Status       string            `json:"status"`
	ErrorMessage *string           `json:"errorMessage"`
	Hash         string            `json:"hash"`
	// OrganizationID is the chain the row belongs to (null: system work).
	OrganizationID *string `json:"organizationId"`
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := page(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if v := q.Get("action"); v != "" {
		add("action = $%d", strings.ToLower(v))
	}
	if v := q.Get("resource_type"); v != "" {
		add("resource_type = $%d", v)
	}
	if v := q.Get("user"); v != "" {
		add("(user_name = $%[1]d OR user_id = $%[1]d)", v)
	}
	for _, p := range []struct{ name, cond string }{{"from", "timestamp >= $%d"}, {"to", "timestamp < $%d"}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				a.fail(w, r, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.DatetimeParsing(v, err.Error(), "query", p.name)}})
				return
			}
			add(p.cond, t)
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int64
	if err := a.db.QueryRow(r.Context(), `SELECT count(*) FROM audit_log`+cond, args...).Scan(&total); err != nil {
		a.fail(w, r, fmt.Errorf("count audit: %w", err))
		return
	}
	args = append(args, limit, offset)
	rows, err := a.db.Query(r.Context(), `SELECT id::text, timestamp, user_id, user_name, action, resource_type, resource_id,
		ip_address, user_agent, request_id, details, changes, status, error_message, encode(hash, 'hex'),
		organization_id::text
		FROM audit_log`+cond+fmt.Sprintf(` ORDER BY seq DESC LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		a.fail(w, r, fmt.Errorf("list audit: %w", err))
		return
	}
	logs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auditLog, error) {
		var l auditLog
		var ts time.Time
		err := row.Scan(&l.ID, &ts, &l.UserID, &l.UserName, &l.Action, &l.ResourceType, &l.ResourceID, &l.IPAddress,
			&l.UserAgent, &l.RequestID, &l.Details, &l.Changes, &l.Status, &l.ErrorMessage, &l.Hash, &l.OrganizationID)
		l.Timestamp = httpapi.Timestamp(ts)
		return l, err
	})
	if err != nil {
		a.fail(w, r, fmt.Errorf("list audit: %w", err))
		return
	}
	if logs == nil {
		logs = []auditLog{}
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"logs": logs, "total": total})
}

// verifyAudit walks the hash chain: 200 when intact, 409 with the first broken row
// otherwise (so that `curl -f` in a cron job fails loudly).
func (a *API) verifyAudit(w http.ResponseWriter, r *http.Request) {
	rep, err := audit.Verify(r.Context(), a.db)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if !rep.Valid {
		status = http.StatusConflict
		a.log.ErrorContext(r.Context(), "audit chain broken", "seq", *rep.BrokenAt, "id", rep.BrokenID, "reason", rep.Reason)
	}
	httpapi.JSON(w, status, rep)
}
