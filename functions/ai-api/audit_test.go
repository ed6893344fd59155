package aiapi_test

import (
	"context"
	"testing"
)

// TestModelChangesAudited: activation and deactivation leave audit rows whose details
// name the operation (backend-new §3.6).
func TestModelChangesAudited(t *testing.T) {
	e := setup(t, 100)
	v1 := e.register()
	if code, m := e.do("POST", "/api/ai/models/"+v1.ID+"/activate/", ""); code != 200 {
		t.Fatalf("activate: %d %v", code, m)
	}
	if code, m := e.do("POST", "/api/ai/models/"+v1.ID+"/deactivate/", ""); code != 200 {
		t.Fatalf("deactivate: %d %v", code, m)
	}
	rows, err := e.db.Query(context.Background(), `SELECT details FROM audit_log WHERE resource_type = 'ai_model' AND resource_id = $1 ORDER BY seq`, v1.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	if len(got) != 2 || got[0] != "activate" || got[1] != "deactivate" {
		t.Fatalf("audit details %v", got)
	}
}
