package migrate_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/migrate"
	"github.com/sqalfn/sqal/shared/testenv"
)

// contractTables must exist after every migration is applied, and none of them after
// everything is rolled back.
var contractTables = []string{
	"sensor_samples", "sqal_devices", "sqal_alerts", "ai_models", "predictions", "sites_euralis",
	"event_outbox", "processed_events", "event_dead_letters",
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	url := testenv.EmptyDBURL(t)
	m, err := migrate.New(url)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	steps := []struct {
		name       string
		run        func() error
		wantTables bool
	}{
		{"up", func() error { _, err := m.Up(ctx); return err }, true},
		{"down to 0", func() error { _, err := m.DownTo(ctx, 0); return err }, false},
		{"up again", func() error { _, err := m.Up(ctx); return err }, true},
		{"redo", func() error { _, err := m.Redo(ctx); return err }, true},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for _, table := range contractTables {
			if got := tableExists(t, url, table); got != s.wantTables {
				t.Errorf("after %s: table %s exists = %v, want %v", s.name, table, got, s.wantTables)
			}
		}
		pending, err := m.HasPending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pending == s.wantTables {
			t.Errorf("after %s: pending = %v", s.name, pending)
		}
	}
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) < 2 {
		t.Errorf("status lists %d migrations, want at least 2", len(st))
	}
}

// TestSchemaFixes checks the legacy defects the contract asks the schema to fix (§2.5).
func TestSchemaFixes(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)

	// Inserts without id, created_at or fusion_is_compliant work (defaults, trigger).
	_, err := db.Exec(ctx, `INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade)
		VALUES (now(), 'dev-1', 's-1', 0.9, 'A'), (now(), 'dev-1', 's-2', 0.2, 'REJECT')`)
	if err != nil {
		t.Fatalf("insert samples: %v", err)
	}
	rows, err := db.Query(ctx, `SELECT sample_id, fusion_is_compliant, id IS NOT NULL, created_at IS NOT NULL FROM sensor_samples ORDER BY sample_id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		id              string
		compliant, a, b bool
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.compliant, &x.a, &x.b)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{"s-1", true, true, true}, {"s-2", false, true, true}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("samples = %+v, want %+v", got, want)
	}

	// sample_id is unique.
	if _, err := db.Exec(ctx, `INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade, fusion_is_compliant)
		VALUES (now(), 'dev-1', 's-1', 0.9, 'A', true)`); err == nil {
		t.Error("duplicate sample_id accepted")
	}

	// A device without a name is named after its id; seeded devices exist.
	if _, err := db.Exec(ctx, `INSERT INTO sqal_devices (device_id) VALUES ('ESP32-NEW')`); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRow(ctx, `SELECT device_name FROM sqal_devices WHERE device_id = 'ESP32-NEW'`).Scan(&name); err != nil || name != "ESP32-NEW" {
		t.Errorf("device_name = %q, %v; want ESP32-NEW", name, err)
	}
	var seeded int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM sqal_devices WHERE device_id LIKE 'ESP32-FOIEGRAS-%-001' AND site_code IS NOT NULL`).Scan(&seeded); err != nil || seeded != 3 {
		t.Errorf("seeded devices = %d, %v; want 3", seeded, err)
	}

	// Alerts: unknown devices accepted, one alert per (sample, type).
	const alert = `INSERT INTO sqal_alerts (sample_id, device_id, alert_type, severity, title) VALUES ('s-2', 'unknown-device', 'grade_reject', 'critical', 'grade_reject') ON CONFLICT (sample_id, alert_type) DO NOTHING`
	for i := 0; i < 2; i++ {
		if _, err := db.Exec(ctx, alert); err != nil {
			t.Fatalf("insert alert: %v", err)
		}
	}
	var alerts int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM sqal_alerts`).Scan(&alerts); err != nil || alerts != 1 {
		t.Errorf("alerts = %d, %v; want 1", alerts, err)
	}

	// ai_models and predictions have id and time defaults.
	if _, err := db.Exec(ctx, `INSERT INTO ai_models (name, version) VALUES ('m', '1')`); err != nil {
		t.Errorf("insert model: %v", err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO predictions (sample_id, device_id, model_name, model_version) VALUES ('s-1', 'dev-1', 'm', '1')`); err != nil {
		t.Errorf("insert prediction: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	a := fstest.MapFS{"00001_a.sql": {Data: []byte("x")}}
	b := fstest.MapFS{"00001_a.sql": {Data: []byte("y")}}
	c := fstest.MapFS{"00001_a.sql": {Data: []byte("x")}, "00002_b.sql": {Data: []byte("")}}
	fa, _ := migrate.Fingerprint(a)
	fa2, _ := migrate.Fingerprint(a)
	fb, _ := migrate.Fingerprint(b)
	fc, _ := migrate.Fingerprint(c)
	if fa != fa2 || fa == fb || fa == fc || fb == fc {
		t.Errorf("fingerprints a=%s a'=%s b=%s c=%s: want a=a' and all others distinct", fa, fa2, fb, fc)
	}
	if _, err := migrate.Fingerprint(fstest.MapFS{}); err == nil {
		t.Error("empty migration set accepted")
	}
}

func tableExists(t *testing.T, url, table string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}
