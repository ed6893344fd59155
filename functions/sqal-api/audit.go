package sqalapi

import (
	"fmt"
	"net/http"

	"github.com/sqalfn/sqal/shared/audit"
)

// recordAcknowledgement audits an alert acknowledgement (issue 6: alert
// acknowledgements are audited). A failure is logged, the acknowledgement stands.
func (a *API) recordAcknowledgement(r *http.Request, alertID int, by string) {
	e := audit.FromRequest(r, audit.ActionUpdate, "alert", fmt.Sprint(alertID))
	e.Details = fmt.Sprintf("Alerte %d acquittée par %s", alertID, by)
	e.Changes = map[string]any{"acknowledged": true, "acknowledged_by": by}
	if err := audit.Record(r.Context(), a.db, e); err != nil {
		a.log.ErrorContext(r.Context(), "audit acknowledgement failed", "alert_id", alertID, "error", err)
	}
}
