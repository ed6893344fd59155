package sqalread_test

import (
	"encoding/json"
	"testing"

	"github.com/sqalfn/sqal/shared/sqalread"
)

// The realtime alert payload is titled with the alert type, except a user rule's alert,
// titled with the rule's name (when its data_context has one).
func TestAlertPayloadTitle(t *testing.T) {
	for _, tc := range []struct {
		typ, context, want string
	}{
		{"quality_low", `{"fusion_score":0.5}`, "quality_low"},
		{"rule:0b6f", `{"rule_id":"0b6f","rule_name":"Qualité faible","quality_score":0.4}`, "Qualité faible"},
		{"rule:0b6f", `{"rule_id":"0b6f"}`, "rule:0b6f"},
		{"rule:0b6f", `null`, "rule:0b6f"},
		{"rule:0b6f", `[1]`, "rule:0b6f"},
		{"manual", `{"rule_name":"not a rule alert"}`, "manual"},
	} {
		a := sqalread.AlertDB{AlertType: tc.typ, DataContext: json.RawMessage(tc.context)}
		if got := a.Payload().Title; got != tc.want {
			t.Errorf("%s %s: title %q, want %q", tc.typ, tc.context, got, tc.want)
		}
	}
}
