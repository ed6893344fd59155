package ingest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/testenv"
)

// Behind PgBouncer in transaction mode the cluster runs pgx in exec mode (DB_EXEC_MODE=exec):
// statements are not described first, so every parameter must be sent in a form
// PostgreSQL can read for its column (jsonb as text, not bytes). The whole ingest path —
// device upserts, samples, outbox events — must work there too.
func TestIngestInExecMode(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.DBURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)

	h := newHarness(t, db, nil)
	ws := h.dial(t, "/ws/sensors/", nil)
	if m := ws.roundTrip(fixtures.Load(t, fixtures.Hello)); m["type"] != "hello_ack" {
		t.Fatalf("hello: %v", m)
	}
	if m := ws.roundTrip(fixtures.Load(t, fixtures.Heartbeat)); m["type"] != "heartbeat_ack" {
		t.Fatalf("heartbeat: %v", m)
	}
	for _, f := range []string{fixtures.Sample1, fixtures.Sample2, fixtures.Minimal} {
		if m := ws.roundTrip(fixtures.Load(t, f)); m["type"] != "ack" || m["status"] != "saved" {
			t.Fatalf("%s: %v", f, m)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM sensor_samples WHERE jsonb_typeof(vl53l8ch_distance_matrix) = 'array'`); n != 3 {
		t.Errorf("samples with a jsonb matrix = %d, want 3", n)
	}
	if n := count(t, db, `SELECT count(*) FROM event_outbox WHERE attributes ? 'specversion'`); n != 3 {
		t.Errorf("outbox events = %d, want 3", n)
	}
	if n := count(t, db, `SELECT count(*) FROM sqal_devices WHERE metadata ? 'hello' AND metadata ? 'heartbeat'`); n != 1 {
		t.Errorf("devices with hello and heartbeat metadata = %d, want 1", n)
	}
}
