package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

// addRule stores a user rule the way reports-api does (or, for unparsable conditions,
// the way SQL or an older version could) and returns its id.
func addRule(t *testing.T, db *pgxpool.Pool, org, name, condition, severity string, enabled bool) string {
	t.Helper()
	var id string
	if err := db.QueryRow(context.Background(), `INSERT INTO alert_rules (name, condition, severity, enabled, organization_id)
		VALUES ($1, $2, $3, $4, $5) RETURNING id::text`, name, condition, severity, enabled, org).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// captureWarnings collects what the step logs (through slog's default logger, which the
// runtime sets to the service's logger) until the test ends.
func captureWarnings(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

func ruleRows(t *testing.T, db *pgxpool.Pool) []row {
	t.Helper()
	var out []row
	for _, r := range alertRows(t, db) {
		if strings.HasPrefix(r.Type, alert.RuleTypePrefix) {
			out = append(out, r)
		}
	}
	return out
}

func decodeDetails(t *testing.T, r row) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Details), &m); err != nil {
		t.Fatalf("defect_details %s: %v", r.Details, err)
	}
	return m
}

// TestUserRuleRaisesAlert: of an enabled matching rule, a non-matching one, a disabled
// one and two that do not parse, only the first raises an alert (one row, one event)
// after the legacy ones; the unparsable rules cost one warning and do not fail the event;
// redelivery and replay add nothing.
func TestUserRuleRaisesAlert(t *testing.T) {
	db := testenv.DB(t)
	logs := captureWarnings(t)
	org := tenant.DefaultOrganization
	hit := addRule(t, db, org, "Qualité très faible", "quality_score<0.50", "critical", true)
	addRule(t, db, org, "Trop épais", "height_mm > 30", "warning", true)
	addRule(t, db, org, "Désactivée", `grade == "REJECT"`, "critical", false)
	bad1 := addRule(t, db, org, "Syntaxe inconnue", "quality_score < 0.5 xor grade == 'C'", "warning", true)
	bad2 := addRule(t, db, org, "Variable inconnue", "weight > 3", "info", true)

	handle := events.Idempotent(db, Consumer, Handle)
	ctx := context.Background()
	e := storedEvent(t, fixtures.Sample2, sample.Source)
	if err := handle(ctx, e); err != nil {
		t.Fatalf("handle: %v", err)
	}

	rows := alertRows(t, db)
	if len(rows) != 3 || rows[0].Type != alert.TypeQualityCritical || rows[1].Type != alert.TypeGradeReject {
		t.Fatalf("rows = %+v, want the two legacy alerts then the rule's", rows)
	}
	got := rows[2]
	want := row{"MG-261127-6331-083", "ESP32_DEMO_MT_01", "rule:" + hit, "critical", "Qualité très faible",
		"Règle « Qualité très faible » : quality_score < 0.5 (valeur : 0.3574)", got.Details, f(0.5), f(0.3574), false}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rule row:\n got %+v\nwant %+v", got, want)
	}
	if len(got.Type) > 50 {
		t.Errorf("alert_type %q longer than varchar(50)", got.Type)
	}
	wantCtx := map[string]any{"rule_id": hit, "rule_name": "Qualité très faible", "condition": "quality_score < 0.5",
		"quality_score": 0.3574481579851127}
	if ctx := decodeDetails(t, got); !maps.Equal(ctx, wantCtx) {
		t.Errorf("rule context = %v, want %v", ctx, wantCtx)
	}

	evs := outbox(t, db)
	if len(evs) != 3 {
		t.Fatalf("%d outbox events, want 3", len(evs))
	}
	ev := evs[2]
	if ev.ID != "MG-261127-6331-083:rule:"+hit || ev.Type != alert.TypeRaised || ev.Source != alert.Source ||
		ev.Device != "ESP32_DEMO_MT_01" || ev.Site != "MT" || ev.Data["alert_type"] != "rule:"+hit ||
		ev.Data["severity"] != "critical" || ev.Data["message"] != want.Message {
		t.Errorf("rule event = %+v", ev)
	}
	if dc, _ := ev.Data["data_context"].(map[string]any); dc["rule_id"] != hit {
		t.Errorf("rule event data_context = %v", ev.Data["data_context"])
	}

	// One warning for the event, naming both unparsable rules.
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"level":"WARN"`) || !strings.Contains(lines[0], bad1) ||
		!strings.Contains(lines[0], bad2) || !strings.Contains(lines[0], `unknown variable \"weight\"`) {
		t.Errorf("warnings:\n%s", logs)
	}

	redeliver(t, ctx, handle, e)
	if again := alertRows(t, db); !reflect.DeepEqual(again, rows) {
		t.Errorf("rows changed on redelivery:\n got %+v\nwant %+v", again, rows)
	}
	if n := len(outbox(t, db)); n != 3 {
		t.Errorf("%d events after redelivery, want 3", n)
	}
}

// TestUserRuleVariables: grade, volume and height rules and one joined with and / or; a volume beyond the range of
// actual_value (numeric(10, 4): the minimal frame's 1e6 mm³) is kept in data_context
// only; a missing height (the minimal frame has none) never matches.
func TestUserRuleVariables(t *testing.T) {
	db := testenv.DB(t)
	org := tenant.DefaultOrganization
	reject := addRule(t, db, org, "Rejet", `grade == 'REJECT'`, "critical", true)
	volume := addRule(t, db, org, "Volume", "volume_mm3 > 150", "info", true)
	height := addRule(t, db, org, "Hauteur", "height_mm < 20", "warning", true)
	// and/or: sample-2 matches the first group; the minimal frame neither (score 0.76,
	// no height).
	combined := addRule(t, db, org, "Combinée", "quality_score < 0.5 && volume_mm3 > 150 or height_mm > 1000", "warning", true)

	handle := events.Idempotent(db, Consumer, Handle)
	for _, fx := range []string{fixtures.Sample2, fixtures.Minimal} {
		if err := handle(context.Background(), storedEvent(t, fx, sample.Source)); err != nil {
			t.Fatalf("%s: %v", fx, err)
		}
	}
	const s2, min = "MG-261127-6331-083", "LL-260125-0001-001"
	type want struct {
		sample, typ, severity, title, message string
		threshold, actual                     *float64
		ctx                                   map[string]any
	}
	wants := []want{
		{s2, "rule:" + reject, "critical", "Rejet", `Règle « Rejet » : grade == "REJECT" (valeur : REJECT)`, nil, nil,
			map[string]any{"grade": "REJECT"}},
		{s2, "rule:" + volume, "info", "Volume", "Règle « Volume » : volume_mm3 > 150 (valeur : 986741.8364)", f(150), f(986741.8364),
			map[string]any{"volume_mm3": 986741.8363709559}},
		{s2, "rule:" + height, "warning", "Hauteur", "Règle « Hauteur » : height_mm < 20 (valeur : 12.0508)", f(20), f(12.0508),
			map[string]any{"height_mm": 12.050846116365605}},
		{s2, "rule:" + combined, "warning", "Combinée", "Règle « Combinée » : quality_score < 0.5 and volume_mm3 > 150 or height_mm > 1000 " +
			"(valeurs : quality_score 0.3574, volume_mm3 986741.8364, height_mm 12.0508)", nil, nil,
			map[string]any{"quality_score": 0.3574481579851127, "volume_mm3": 986741.8363709559, "height_mm": 12.050846116365605,
				"condition": "quality_score < 0.5 and volume_mm3 > 150 or height_mm > 1000"}},
		{min, "rule:" + volume, "info", "Volume", "Règle « Volume » : volume_mm3 > 150 (valeur : 1000000)", f(150), nil,
			map[string]any{"volume_mm3": 1e6}},
	}
	got := ruleRows(t, db)
	if len(got) != len(wants) {
		t.Fatalf("rule rows = %+v, want %d", got, len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if g.SampleID != w.sample || g.Type != w.typ || g.Severity != w.severity || g.Title != w.title || g.Message != w.message ||
			!reflect.DeepEqual(g.Threshold, w.threshold) || !reflect.DeepEqual(g.Actual, w.actual) {
			t.Errorf("rule row %d = %+v, want %+v", i, g, w)
		}
		ctx := decodeDetails(t, g)
		for k, v := range w.ctx {
			if ctx[k] != v {
				t.Errorf("rule row %d context %s = %v, want %v", i, k, ctx[k], v)
			}
		}
	}
}

// TestTenantIsolationUserRules: on the application role (row-level security applies), a
// rule of organisation B does not fire for a sample of organisation A, and the other way
// round; each rule fires for its own organisation's samples, in that organisation.
func TestTenantIsolationUserRules(t *testing.T) {
	app, owner := testenv.AppDB(t)
	ctx := context.Background()
	if _, err := owner.Exec(ctx, `INSERT INTO organizations (id, name, type) VALUES ($1, 'Org B', 'enterprise')`, orgB); err != nil {
		t.Fatal(err)
	}
	orgA := tenant.DefaultOrganization
	ruleA := addRule(t, owner, orgA, "Règle A", `grade == "REJECT"`, "warning", true)
	ruleB := addRule(t, owner, orgB, "Règle B", "quality_score < 0.5", "critical", true)

	handle := events.Idempotent(database.NewDB(app), Consumer, Handle)
	// A sample of A (no extension: the default organisation) that both rules would match.
	if err := handle(ctx, storedEvent(t, fixtures.Sample2, sample.Source)); err != nil {
		t.Fatalf("event of A: %v", err)
	}
	eb := storedEvent(t, fixtures.Sample2, sample.Source)
	eb.SetID("B-1")
	eb.SetExtension(tenant.EventExtension, orgB)
	if err := eb.SetData("application/json", []byte(`{"sample_id":"B-1","device_id":"ESP32_B_01",
		"fusion_final_score":0.2,"fusion_final_grade":"REJECT","fusion_is_compliant":false}`)); err != nil {
		t.Fatal(err)
	}
	if err := handle(ctx, eb); err != nil {
		t.Fatalf("event of B: %v", err)
	}

	got := testenv.OrgsOf(t, owner, `SELECT sample_id || ' ' || alert_type, organization_id::text FROM sqal_alerts
		WHERE alert_type LIKE 'rule:%'`)
	want := map[string]string{"MG-261127-6331-083 rule:" + ruleA: orgA, "B-1 rule:" + ruleB: orgB}
	if !maps.Equal(got, want) {
		t.Errorf("rule alerts = %v, want %v", got, want)
	}
	var events int
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM event_outbox WHERE event_id LIKE '%:rule:%'`).Scan(&events); err != nil || events != 2 {
		t.Errorf("rule events = %d (%v), want 2", events, err)
	}
}

func TestFormatValue(t *testing.T) {
	for x, want := range map[float64]string{0.3574481579851127: "0.3574", 1037036.0584178903: "1037036.0584", 150: "150",
		12.5: "12.5", -3: "-3", -0.00001: "0", 0: "0", 0.99996: "1"} {
		if got := formatValue(x); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", x, got, want)
		}
	}
}

func TestNumericColumn(t *testing.T) {
	for _, tc := range []struct {
		in   *float64
		want bool
	}{{nil, false}, {f(0.5), true}, {f(-999999.99), true}, {f(999999.9999), false}, {f(1037036.05), false}, {f(-1e7), false}} {
		if got := numericColumn(tc.in); (got != nil) != tc.want {
			t.Errorf("numericColumn(%v) = %v", tc.in, got)
		}
	}
}
