package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

const orgB = "0b000000-0000-4000-8000-00000000000b"

// TestTenantIsolationRealtime: with the database on the application role (row-level
// security), a client of organisation A gets A's latest_sample and A's messages only, a
// client of B only B's, a cross-organisation client everything, and a client without a
// scope nothing.
func TestTenantIsolationRealtime(t *testing.T) {
	app, owner := testenv.AppDB(t)
	rdb := testenv.Redis(t)
	ctx := context.Background()
	if _, err := owner.Exec(ctx, `INSERT INTO organizations (id, name, type) VALUES ($1, 'Org B', 'enterprise')`, orgB); err != nil {
		t.Fatal(err)
	}
	// B's sample is the newest: a client of A must still get A's.
	if _, err := owner.Exec(ctx, `INSERT INTO sensor_samples (timestamp, device_id, sample_id, fusion_final_score, fusion_final_grade, organization_id)
		VALUES ('2026-11-27T07:00:00Z', 'DEV-A', 'LATEST-A', 0.9, 'A', $1), ('2026-11-27T08:00:00Z', 'DEV-B', 'LATEST-B', 0.8, 'B', $2)`,
		tenant.DefaultOrganization, orgB); err != nil {
		t.Fatal(err)
	}
	in := start(t, testConfig(t), rdb, app)
	connect := func(scope, wantLatest string) *wsClient {
		t.Helper()
		c, _ := dialURL(t, in.wsURL()+"?scope="+scope)
		if wantLatest == "" {
			return c
		}
		m := c.next(5 * time.Second)
		d, _ := m["data"].(map[string]any)
		if m["type"] != typeLatestSample || d["sample_id"] != wantLatest {
			t.Fatalf("scope %s: latest_sample = %v, want %s", scope, m, wantLatest)
		}
		return c
	}
	cA := connect(tenant.DefaultOrganization, "LATEST-A")
	cB := connect(orgB, "LATEST-B")
	cAll := connect("all", "LATEST-B")
	cNone := connect("none", "")

	// B's sample, alert and prediction, then A's sample (no extension: the default
	// organisation's, as events from before organisations).
	sb := storedEvent("S-B", "DEV-B", nil, "A", 0)
	sb.SetExtension(tenant.EventExtension, orgB)
	al := cloudevents.NewEvent()
	al.SetID("S-B:grade_reject")
	al.SetSource(alert.Source)
	al.SetType(alert.TypeRaised)
	al.SetExtension(tenant.EventExtension, orgB)
	_ = al.SetData(cloudevents.ApplicationJSON, json.RawMessage(`{"time":"2026-11-27T07:56:44.5+00:00","alert_id":7,
		"device_id":"DEV-B","sample_id":"S-B","alert_type":"grade_reject","severity":"critical","message":"m",
		"data_context":{},"is_acknowledged":false,"acknowledged_at":null,"acknowledged_by":null}`))
	pr := cloudevents.NewEvent()
	pr.SetID("pred-B")
	pr.SetSource("/sqal/predict")
	pr.SetType(TypePredictionCreated)
	pr.SetExtension(tenant.EventExtension, orgB)
	_ = pr.SetData(cloudevents.ApplicationJSON, ml.PredictionEvent{SampleID: "S-B", DeviceID: "DEV-B", Score: 0.7, Grade: "B"})
	sa := storedEvent("S-A", "DEV-A", nil, "A", 0)
	for i, e := range []cloudevents.Event{sb, al, pr, sa} {
		mustPost(t, in, e, i%2 == 1)
	}

	what := func(m map[string]any) string {
		if d, ok := m["data"].(map[string]any); ok {
			return m["type"].(string) + " " + d["sample_id"].(string)
		}
		return m["type"].(string) + " " + m["sample_id"].(string)
	}
	expect := func(name string, c *wsClient, want ...string) {
		t.Helper()
		for _, w := range want {
			if got := what(c.next(5 * time.Second)); got != w {
				t.Fatalf("client of %s: got %s, want %s", name, got, w)
			}
		}
	}
	// Messages keep their publication order, so A's first message being A's sample
	// shows that none of B's three reached it.
	expect("A", cA, "sensor_update S-A")
	expect("B", cB, "sensor_update S-B", "alert S-B", "prediction S-B")
	expect("all", cAll, "sensor_update S-B", "alert S-B", "prediction S-B", "sensor_update S-A")
	// B's client and the scopeless one get nothing more (A's sample was the last).
	for name, c := range map[string]*wsClient{"B": cB, "none": cNone} {
		if b, err := c.nextRaw(300 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("client of %s got %s (%v), want nothing", name, b, err)
		}
	}

	// An event naming a malformed organisation is refused, not broadcast to anyone.
	bad := storedEvent("S-BAD", "DEV-B", nil, "A", 0)
	bad.SetExtension(tenant.EventExtension, "not-a-uuid")
	if code := post(t, in, bad, false); code != http.StatusBadRequest {
		t.Errorf("malformed organisation: status %d, want 400", code)
	}
}
