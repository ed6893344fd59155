package alerts

import (
	"context"
	"maps"
	"testing"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

const orgB = "0b000000-0000-4000-8000-00000000000b"

// TestTenantIsolationAlerts: on the application role (row-level security applies), the
// alerts of a sqal.sample.stored event of organisation B are stored in B and their
// sqal.alert.raised events name B; an event without the extension acts for the default
// organisation; each organisation sees only its own alerts.
func TestTenantIsolationAlerts(t *testing.T) {
	app, owner := testenv.AppDB(t)
	ctx := context.Background()
	if _, err := owner.Exec(ctx, `INSERT INTO organizations (id, name, type) VALUES ($1, 'Org B', 'enterprise')`, orgB); err != nil {
		t.Fatal(err)
	}
	db := database.NewDB(app)
	handle := events.Idempotent(db, Consumer, Handle)

	eb := storedEvent(t, fixtures.Sample2, sample.Source)
	eb.SetExtension(tenant.EventExtension, orgB)
	if err := handle(ctx, eb); err != nil {
		t.Fatalf("event of B: %v", err)
	}
	// The same sample again under another source and the default organisation (no
	// extension): the unique (sample_id, alert_type) index already holds B's rows, so A
	// gets none, and B's rows are untouched.
	if err := handle(ctx, storedEvent(t, fixtures.Sample2, "/sqal/ingest/replay")); err != nil {
		t.Fatalf("replay without organisation: %v", err)
	}
	ea := storedEvent(t, fixtures.Sample2, sample.Source)
	ea.SetID("A-1")
	_ = ea.SetData("application/json", []byte(`{"sample_id":"A-1","device_id":"ESP32_LL_01","fusion_final_score":0.2,"fusion_final_grade":"REJECT","fusion_is_compliant":false}`))
	if err := handle(ctx, ea); err != nil {
		t.Fatalf("event of the default organisation: %v", err)
	}

	byOrg := func(query string) map[string]string { return testenv.OrgsOf(t, owner, query) }
	b := func(typ string) string { return "MG-261127-6331-083:" + typ }
	a := func(typ string) string { return "A-1:" + typ }
	want := map[string]string{
		b(alert.TypeQualityCritical): orgB, b(alert.TypeGradeReject): orgB,
		a(alert.TypeQualityCritical): tenant.DefaultOrganization, a(alert.TypeGradeReject): tenant.DefaultOrganization,
		a(alert.TypeFreshnessLow): tenant.DefaultOrganization,
	}
	if got := byOrg(`SELECT sample_id || ':' || alert_type, organization_id::text FROM sqal_alerts`); !maps.Equal(got, want) {
		t.Errorf("alert organisations = %v, want %v", got, want)
	}
	if got := byOrg(`SELECT event_id, attributes->>'organizationid' FROM event_outbox WHERE type = '` + alert.TypeRaised + `'`); !maps.Equal(got, want) {
		t.Errorf("alert event organisations = %v, want %v", got, want)
	}

	visible := func(s tenant.Scope) []string {
		t.Helper()
		return testenv.Strings(t, tenant.With(ctx, s), db, `SELECT DISTINCT sample_id FROM sqal_alerts ORDER BY 1`)
	}
	if got := visible(tenant.Org(orgB)); len(got) != 1 || got[0] != "MG-261127-6331-083" {
		t.Errorf("organisation B sees alerts of %v", got)
	}
	if got := visible(tenant.Org(tenant.DefaultOrganization)); len(got) != 1 || got[0] != "A-1" {
		t.Errorf("the default organisation sees alerts of %v", got)
	}
}
