package aiapi

import (
	"net/http"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/ml"
)

// recordModelChange audits a model activation, deactivation or rollback (backend-new
// §3.6: action update, details "activate"/"deactivate"). It runs after the registry
// committed; a failure is logged, the change stands.
func (a *API) recordModelChange(r *http.Request, verb string, rec ml.Record) {
	e := audit.FromRequest(r, audit.ActionUpdate, "ai_model", rec.ID)
	e.Details = verb
	e.Changes = map[string]any{"name": rec.Name, "version": rec.Version, "status": rec.Status, "operation": verb}
	if err := audit.Record(r.Context(), a.db, e); err != nil {
		a.log.ErrorContext(r.Context(), "audit model change failed", "model", rec.ID, "operation", verb, "error", err)
	}
}
