package reportsapi

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/sqalfn/sqal/shared/tenant"
)

func TestAlertRulesCRUD(t *testing.T) {
	e := newEnv(t, testConfig)
	// The dashboard calls these paths without the slash; both spellings are served.
	for _, p := range []string{"/api/alerts/rules", "/api/alerts/rules/"} {
		if got := string(e.must(t, "GET", p, "", 200).Body); got != `[]` {
			t.Errorf("GET %s = %s, want a bare empty array", p, got)
		}
	}
	// AlertRulesManager's create body.
	created := e.must(t, "POST", "/api/alerts/rules", `{"name":"Qualité faible","condition":"quality_score < 0.7",
		"severity":"warning","enabled":true,"notify_channels":["websocket"]}`, http.StatusCreated).object(t)
	rule := created["rule"].(map[string]any)
	id := rule["id"].(string)
	if created["status"] != "created" || created["id"] != id {
		t.Errorf("created %v", created)
	}
	e.must(t, "POST", "/api/alerts/rules", `{"name":"Rejet","condition":"grade == \"REJECT\"","severity":"critical"}`, 201)

	list := e.must(t, "GET", "/api/alerts/rules", "", 200).json(t).([]any)
	if len(list) != 2 {
		t.Fatalf("list %v", list)
	}
	first := list[0].(map[string]any)
	// Exactly the fields the component reads, snake_case; updated_at absent until updated.
	for _, k := range []string{"id", "name", "condition", "severity", "enabled", "notify_channels", "created_at"} {
		if _, ok := first[k]; !ok {
			t.Errorf("rule lacks %s: %v", k, first)
		}
	}
	if _, ok := first["updated_at"]; ok || first["created_at"] != "2026-11-27T10:00:00.000000Z" {
		t.Errorf("first rule %v", first)
	}
	if second := list[1].(map[string]any); second["enabled"] != true || second["notify_channels"].([]any)[0] != "websocket" {
		t.Errorf("defaults %v", second)
	}

	// Toggle ({enabled} only) keeps the other fields; the full edit replaces them.
	tog := e.must(t, "PUT", "/api/alerts/rules/"+id, `{"enabled":false}`, 200).object(t)
	if r := tog["rule"].(map[string]any); tog["status"] != "updated" || r["enabled"] != false || r["name"] != "Qualité faible" || r["updated_at"] == nil {
		t.Errorf("toggle %v", tog)
	}
	edit := e.must(t, "PUT", "/api/alerts/rules/"+id+"/", `{"name":"Très faible","condition":"  quality_score<=0.50 and volume_mm3 > 100 ",
		"severity":"critical","enabled":true,"notify_channels":["websocket","email"]}`, 200).object(t)
	// The condition is stored as sent, trimmed (not in its canonical form).
	if r := edit["rule"].(map[string]any); r["condition"] != "quality_score<=0.50 and volume_mm3 > 100" || len(r["notify_channels"].([]any)) != 2 {
		t.Errorf("edit %v", edit)
	}
	if got := e.must(t, "GET", "/api/alerts/rules/"+id, "", 200).object(t); got["severity"] != "critical" {
		t.Errorf("detail %v", got)
	}

	// Unknown ids are real 404s (the former target answered 200 with an array).
	const unknown = "00000000-0000-4000-8000-000000000000"
	wantDetail(t, e.do(t, "PUT", "/api/alerts/rules/"+unknown, `{"enabled":true}`), 404, "Rule not found")
	wantDetail(t, e.do(t, "PUT", "/api/alerts/rules/rule-1", `{"enabled":true}`), 404, "Rule not found")
	wantDetail(t, e.do(t, "GET", "/api/alerts/rules/"+unknown, ""), 404, "Rule not found")

	want422(t, e.do(t, "POST", "/api/alerts/rules", `{"name":"x","condition":"__import__('os')"}`), "value_error", "body", "condition")
	want422(t, e.do(t, "POST", "/api/alerts/rules", `{"name":"x"}`), "missing", "body", "condition")
	want422(t, e.do(t, "POST", "/api/alerts/rules", `{"name":"x","condition":"grade == 'A'","severity":"high"}`), "enum", "body", "severity")
	want422(t, e.do(t, "PUT", "/api/alerts/rules/"+id, `{"condition":"height_mm <"}`), "value_error", "body", "condition")
	// Comparisons join with and / or only, and each is whole.
	want422(t, e.do(t, "POST", "/api/alerts/rules", `{"name":"x","condition":"quality_score < 0.5 xor volume_mm3 > 100"}`), "value_error", "body", "condition")
	want422(t, e.do(t, "PUT", "/api/alerts/rules/"+id, `{"condition":"grade == 'C' or"}`), "value_error", "body", "condition")
	want422(t, e.do(t, "PUT", "/api/alerts/rules/"+id, `{"notify_channels":"websocket"}`), "list_type", "body", "notify_channels")

	del := e.must(t, "DELETE", "/api/alerts/rules/"+id, "", 200).object(t)
	if del["status"] != "deleted" || del["rule_id"] != id {
		t.Errorf("delete %v", del)
	}
	wantDetail(t, e.do(t, "DELETE", "/api/alerts/rules/"+id, ""), 404, "Rule not found")
	if n := len(e.must(t, "GET", "/api/alerts/rules", "", 200).json(t).([]any)); n != 1 {
		t.Errorf("%d rules left", n)
	}

	// Persisted, not in memory: a new server on the same database sees the rule.
	other := scoped(newServer(e.app, testConfig, e.srv.logger).routes(), func() tenant.Scope { return tenant.Scope{} })
	if res := (&testEnv{h: other}).must(t, "GET", "/api/alerts/rules", "", 200); len(res.json(t).([]any)) != 1 {
		t.Errorf("rules not persisted: %s", res.Body)
	}
	var audited int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE resource_type = 'alert_rule'`).Scan(&audited); err != nil || audited != 5 {
		t.Errorf("audit rows = %d (%v), want 5", audited, err)
	}
}

// TestAlertRuleBadCondition: a condition the alerts step could not evaluate is the 422
// of every other field error, naming body.condition and saying what is wrong and where;
// nothing is stored.
func TestAlertRuleBadCondition(t *testing.T) {
	e := newEnv(t, testConfig)
	cases := []struct{ body, reason string }{
		{`{"name":"x","condition":"qualty_score < 0.7"}`,
			`unknown variable "qualty_score" (quality_score, grade, volume_mm3, height_mm) at column 1`},
		{`{"name":"x","condition":"grade < 'C'"}`, `grade supports only == and !=, not < at column 7`},
		{`{"name":"x","condition":"grade == 'D'"}`, `unknown grade "D" (A+, A, B, C, REJECT) at column 10`},
		{`{"name":"x","condition":"volume_mm3 > '150'"}`, `volume_mm3 compares with a number, not the string "150" at column 14`},
		{`{"name":"x","condition":"__import__('os')"}`, `unknown variable "__import__" (quality_score, grade, volume_mm3, height_mm) at column 1`},
	}
	for _, tc := range cases {
		res := e.do(t, "POST", "/api/alerts/rules", tc.body)
		if res.Code != http.StatusUnprocessableEntity {
			t.Fatalf("%s: status %d, want 422 (%s)", tc.body, res.Code, res.Body)
		}
		var got struct {
			Detail []map[string]any `json:"detail"`
		}
		if err := json.Unmarshal(res.Body, &got); err != nil || len(got.Detail) != 1 {
			t.Fatalf("%s: body %s (%v)", tc.body, res.Body, err)
		}
		var sent map[string]string
		_ = json.Unmarshal([]byte(tc.body), &sent)
		want := map[string]any{"type": "value_error", "loc": []any{"body", "condition"},
			"msg": "Value error, invalid condition: " + tc.reason, "input": sent["condition"],
			"ctx": map[string]any{"error": tc.reason}}
		if !reflect.DeepEqual(got.Detail[0], want) {
			t.Errorf("%s:\n got %v\nwant %v", tc.body, got.Detail[0], want)
		}
	}
	if got := string(e.must(t, "GET", "/api/alerts/rules", "", 200).Body); got != `[]` {
		t.Errorf("rules stored despite bad conditions: %s", got)
	}
}
