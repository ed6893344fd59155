package sqalapi

import (
	"context"
	"testing"
)

// TestAcknowledgementAudited: an alert acknowledgement leaves an audit row.
func TestAcknowledgementAudited(t *testing.T) {
	ta := newTestAPI(t, false)
	ta.seed()
	ta.expect("POST", "/api/sqal/alerts/1/acknowledge?acknowledged_by=operateur", "", 200, "")
	var action, rtype, rid, details string
	err := ta.db.QueryRow(context.Background(), `SELECT action, resource_type, resource_id, details FROM audit_log`).
		Scan(&action, &rtype, &rid, &details)
	if err != nil || action != "update" || rtype != "alert" || rid != "1" || details != "Alerte 1 acquittée par operateur" {
		t.Fatalf("audit row: %s %s %s %q %v", action, rtype, rid, details, err)
	}
	// A refused acknowledgement is not audited.
	ta.expect("POST", "/api/sqal/alerts/999/acknowledge?acknowledged_by=op", "", 404, "")
	var n int
	_ = ta.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d audit rows, want 1", n)
	}
}
