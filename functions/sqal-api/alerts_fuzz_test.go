package sqalapi

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzAlertCreate: any body either fails validation with at least one pydantic-shaped
// item, or yields every required value within the contract's bounds.
func FuzzAlertCreate(f *testing.F) {
	f.Add([]byte(`{"device_id":"D","sample_id":"S","alert_type":"t","severity":"info","message":"m"}`))
	f.Add([]byte(`{"device_id":"D","sample_id":"S","alert_type":"t","severity":"critical","message":"m","data_context":{"a":1}}`))
	f.Add([]byte(`{"severity":"high","message":""}`))
	f.Add([]byte(`{"device_id":1,"data_context":[1]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b alertCreate
		if json.Unmarshal(body, &b) != nil {
			return // rejected before validation (json_invalid / model_attributes_type)
		}
		vals, ctx, items := b.validate()
		for _, it := range items {
			if it.Type == "" || it.Msg == "" || len(it.Loc) < 2 || it.Loc[0] != "body" {
				t.Fatalf("malformed item %+v", it)
			}
		}
		if len(items) > 0 {
			return
		}
		for _, k := range []string{"device_id", "sample_id", "alert_type", "severity", "message"} {
			if _, ok := vals[k]; !ok {
				t.Fatalf("valid body without %s: %s", k, body)
			}
		}
		if s := vals["severity"]; s != "info" && s != "warning" && s != "critical" {
			t.Fatalf("severity %q accepted", s)
		}
		if n := utf8.RuneCountInString(vals["message"]); n < 1 || n > 500 {
			t.Fatalf("message of %d characters accepted", n)
		}
		if ctx != nil && (ctx[0] != '{' || !json.Valid(ctx)) {
			t.Fatalf("data_context %s accepted", ctx)
		}
	})
}
