package ingest

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

const (
	orgA = tenant.DefaultOrganization // unknown devices register here
	orgB = "0b000000-0000-4000-8000-00000000000b"
)

// tenantHarness is the function on the application role (row-level security applies)
// with organisation B and its device ESP32_LS_02 seeded by the owner, who also checks.
func tenantHarness(t *testing.T, env map[string]string) (h *harness, app *database.DB, owner *pgxpool.Pool) {
	t.Helper()
	appPool, owner := testenv.AppDB(t)
	ctx := context.Background()
	if _, err := owner.Exec(ctx, `INSERT INTO organizations (id, name, type) VALUES ($1, 'Org B', 'enterprise')`, orgB); err != nil {
		t.Fatalf("seed organisation: %v", err)
	}
	if _, err := owner.Exec(ctx, `INSERT INTO sqal_devices (device_id, organization_id) VALUES ('ESP32_LS_02', $1)`, orgB); err != nil {
		t.Fatalf("seed device: %v", err)
	}
	app = database.NewDB(appPool)
	h = newHarness(t, owner, env, func(d *Deps) { d.DB = app })
	return h, app, owner
}

// ofDevice is the minimal fixture as sent by device, with sample_id id.
func ofDevice(t *testing.T, device, id string) []byte {
	return bytes.Replace(withID(fixtures.Load(t, fixtures.Minimal), id), []byte(`"ESP32_LL_01"`), []byte(`"`+device+`"`), 1)
}

func visibleSamples(t *testing.T, app *database.DB, s tenant.Scope) []string {
	t.Helper()
	return testenv.Strings(t, tenant.With(context.Background(), s), app, `SELECT sample_id FROM sensor_samples ORDER BY sample_id`)
}

// TestTenantIsolationIngest: samples of devices of two organisations, through every
// ingestion path and in one store group, land in their device's organisation (rows,
// device registration, rollups and outbox events), and each organisation sees only its
// own.
func TestTenantIsolationIngest(t *testing.T) {
	h, app, owner := tenantHarness(t, nil)

	// WebSocket: an unknown device (registered in the default organisation by its first
	// sample) and B's device on one connection; a heartbeat of B's device.
	ws := h.dial(t, "/ws/sensors/", nil)
	if m := ws.roundTrip(ofDevice(t, "ESP32_LL_01", "T-A-WS")); m["status"] != "saved" {
		t.Fatalf("A over WebSocket: %v", m)
	}
	if m := ws.roundTrip(ofDevice(t, "ESP32_LS_02", "T-B-WS")); m["status"] != "saved" {
		t.Fatalf("B over WebSocket: %v", m)
	}
	if m := ws.roundTrip([]byte(`{"type":"heartbeat","device_id":"ESP32_LS_02"}`)); m["type"] != "heartbeat_ack" {
		t.Fatalf("heartbeat: %v", m)
	}
	// HTTP: a batch mixing both organisations (stored as groups), and a CloudEvent.
	batch := []byte("[" + string(ofDevice(t, "ESP32_LL_01", "T-A-HTTP")) + "," + string(ofDevice(t, "ESP32_LS_02", "T-B-HTTP")) + "]")
	if s, _, b := post(t, h.srv.URL+"/api/ingest/samples", "application/json", batch, nil); s != http.StatusOK {
		t.Fatalf("batch: %d %s", s, b)
	}
	ce := map[string]string{"ce-specversion": "1.0", "ce-id": "up-1", "ce-source": "/stations/test", "ce-type": sample.TypeUpload}
	if s, _, b := post(t, h.srv.URL+"/api/ingest/events", "application/json", ofDevice(t, "ESP32_LS_02", "T-B-CE"), ce); s != http.StatusCreated {
		t.Fatalf("CloudEvent: %d %s", s, b)
	}

	want := map[string]string{"T-A-WS": orgA, "T-A-HTTP": orgA, "T-B-WS": orgB, "T-B-HTTP": orgB, "T-B-CE": orgB}
	if got := testenv.OrgsOf(t, owner, `SELECT sample_id, organization_id::text FROM sensor_samples`); !maps.Equal(got, want) {
		t.Errorf("sample organisations = %v, want %v", got, want)
	}
	if got := testenv.OrgsOf(t, owner, `SELECT event_id, attributes->>'organizationid' FROM event_outbox WHERE type = 'sqal.sample.stored'`); !maps.Equal(got, want) {
		t.Errorf("outbox event organisations = %v, want %v", got, want)
	}
	devices := map[string]string{"ESP32_LL_01": orgA, "ESP32_LS_02": orgB}
	if got := testenv.OrgsOf(t, owner, `SELECT device_id, organization_id::text FROM sqal_devices WHERE device_id LIKE 'ESP32\_%'`); !maps.Equal(got, devices) {
		t.Errorf("device organisations = %v, want %v", got, devices)
	}
	// B's device row was updated by its samples and heartbeat (under row-level security).
	if n := count(t, owner, `SELECT count(*) FROM sqal_devices WHERE device_id = 'ESP32_LS_02' AND last_seen IS NOT NULL AND metadata ? 'heartbeat'`); n != 1 {
		t.Errorf("B's device not updated by its samples and heartbeat")
	}
	if got := testenv.OrgsOf(t, owner, `SELECT device_id, string_agg(DISTINCT organization_id::text, ',') FROM sqal_sample_hourly GROUP BY device_id`); !maps.Equal(got, devices) {
		t.Errorf("hourly rollup organisations = %v, want %v", got, devices)
	}

	// What each organisation sees through the application role.
	if got := visibleSamples(t, app, tenant.Org(orgA)); !slices.Equal(got, []string{"T-A-HTTP", "T-A-WS"}) {
		t.Errorf("organisation A sees %v", got)
	}
	if got := visibleSamples(t, app, tenant.Org(orgB)); !slices.Equal(got, []string{"T-B-CE", "T-B-HTTP", "T-B-WS"}) {
		t.Errorf("organisation B sees %v", got)
	}

	// A device an administrator registers in B before its first sample stores into B.
	if _, err := owner.Exec(context.Background(), `INSERT INTO sqal_devices (device_id, organization_id) VALUES ('ESP32_MT_03', $1)`, orgB); err != nil {
		t.Fatal(err)
	}
	if s, _, b := post(t, h.srv.URL+"/api/ingest/samples", "application/json", ofDevice(t, "ESP32_MT_03", "T-B-NEW"), nil); s != http.StatusCreated {
		t.Fatalf("newly registered device: %d %s", s, b)
	}
	if got := testenv.OrgsOf(t, owner, `SELECT sample_id, organization_id::text FROM sensor_samples WHERE sample_id = 'T-B-NEW'`); got["T-B-NEW"] != orgB {
		t.Errorf("sample of a device registered in B is in %q", got["T-B-NEW"])
	}
}

// TestTenantIsolationIngestDeviceKeys: with device keys, a sample belongs to the key's
// organisation (a new device registers there), and a key whose device is registered in
// another organisation is refused.
func TestTenantIsolationIngestDeviceKeys(t *testing.T) {
	h, app, owner := tenantHarness(t, map[string]string{"INGEST_DEVICE_AUTH": "on"})
	ctx := context.Background()
	keys := []struct{ key, device, org string }{
		{"key-b-new", "ESP32_MT_09", orgB},   // device not registered yet
		{"key-b-known", "ESP32_LS_02", orgB}, // B's device
		{"key-a-wrong", "ESP32_LS_02", orgA}, // a key of A for B's device
		{"key-a-fine", "ESP32_LL_01", orgA},  // A's unknown device
		{"key-b-for-a", "ESP32_LL_07", orgB}, // registered in A below
	}
	for _, k := range keys {
		hash := HashDeviceKey(k.key)
		if _, err := owner.Exec(ctx, `INSERT INTO ingest_device_keys (key_hash, device_id, organization_id) VALUES ($1, $2, $3)`, hash[:], k.device, k.org); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := owner.Exec(ctx, `INSERT INTO sqal_devices (device_id, organization_id) VALUES ('ESP32_LL_07', $1)`, orgA); err != nil {
		t.Fatal(err)
	}
	url := h.srv.URL + "/api/ingest/samples"
	for _, tc := range []struct {
		key, device, id string
		status          int
	}{
		{"key-b-new", "ESP32_MT_09", "K-B-NEW", http.StatusCreated},
		{"key-b-known", "ESP32_LS_02", "K-B-KNOWN", http.StatusCreated},
		{"key-a-fine", "ESP32_LL_01", "K-A", http.StatusCreated},
		{"key-a-wrong", "ESP32_LS_02", "K-WRONG", http.StatusUnauthorized},
		{"key-b-for-a", "ESP32_LL_07", "K-WRONG-2", http.StatusUnauthorized},
	} {
		if s, _, b := post(t, url, "application/json", ofDevice(t, tc.device, tc.id), map[string]string{"X-Device-Key": tc.key}); s != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.key, s, b, tc.status)
		}
	}
	ws := h.dial(t, "/ws/sensors/?device_key=key-b-known", nil)
	if m := ws.roundTrip([]byte(`{"type":"esp32_hello","device_id":"ESP32_LS_02","firmware_version":"9.9.9"}`)); m["type"] != "hello_ack" {
		t.Errorf("hello: %v", m)
	}
	want := map[string]string{"K-B-NEW": orgB, "K-B-KNOWN": orgB, "K-A": orgA}
	if got := testenv.OrgsOf(t, owner, `SELECT sample_id, organization_id::text FROM sensor_samples`); !maps.Equal(got, want) {
		t.Errorf("sample organisations = %v, want %v", got, want)
	}
	if got := testenv.OrgsOf(t, owner, `SELECT event_id, attributes->>'organizationid' FROM event_outbox`); !maps.Equal(got, want) {
		t.Errorf("outbox event organisations = %v, want %v", got, want)
	}
	devices := map[string]string{"ESP32_MT_09": orgB, "ESP32_LS_02": orgB, "ESP32_LL_01": orgA, "ESP32_LL_07": orgA}
	if got := testenv.OrgsOf(t, owner, `SELECT device_id, organization_id::text FROM sqal_devices WHERE device_id LIKE 'ESP32\_%'`); !maps.Equal(got, devices) {
		t.Errorf("device organisations = %v, want %v", got, devices)
	}
	if n := count(t, owner, `SELECT count(*) FROM sqal_devices WHERE device_id = 'ESP32_LS_02' AND firmware_version = '9.9.9'`); n != 1 {
		t.Errorf("hello of B's device not recorded")
	}
	if got := visibleSamples(t, app, tenant.Org(orgB)); !slices.Equal(got, []string{"K-B-KNOWN", "K-B-NEW"}) {
		t.Errorf("organisation B sees %v", got)
	}
	if got := visibleSamples(t, app, tenant.Org(orgA)); !slices.Equal(got, []string{"K-A"}) {
		t.Errorf("organisation A sees %v", got)
	}
}
