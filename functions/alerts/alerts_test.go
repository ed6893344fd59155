package alerts

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/testenv"
)

// storedEvent is the sqal.sample.stored event ingest emits for a captured frame.
func storedEvent(t *testing.T, fixture, source string) cloudevents.Event {
	t.Helper()
	f, err := sample.Decode(fixtures.Load(t, fixture))
	if err != nil {
		t.Fatalf("decode %s: %v", fixture, err)
	}
	s, err := f.Sample()
	if err != nil {
		t.Fatalf("validate %s: %v", fixture, err)
	}
	upd, err := s.UpdateJSON()
	if err != nil {
		t.Fatal(err)
	}
	e := cloudevents.NewEvent()
	e.SetID(s.SampleID)
	e.SetSource(source)
	e.SetType(sample.TypeStored)
	if err := e.SetData(cloudevents.ApplicationJSON, s.Event(upd)); err != nil {
		t.Fatal(err)
	}
	return e
}

type row struct {
	SampleID, DeviceID, Type, Severity, Title, Message string
	Details                                            string
	Threshold, Actual                                  *float64
	Acknowledged                                       bool
}

func alertRows(t *testing.T, db *pgxpool.Pool) []row {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT sample_id, device_id, alert_type, severity, title, message,
		defect_details::text, threshold_value::float8, actual_value::float8, acknowledged FROM sqal_alerts ORDER BY alert_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.SampleID, &r.DeviceID, &r.Type, &r.Severity, &r.Title, &r.Message, &r.Details,
			&r.Threshold, &r.Actual, &r.Acknowledged); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type outboxRow struct {
	ID, Source, Type string
	Data             map[string]any
	Device, Site     string
}

func outbox(t *testing.T, db *pgxpool.Pool) []outboxRow {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT event_id, source, type, payload,
		coalesce(attributes->>'sqaldevice', ''), coalesce(attributes->>'sqalsite', '') FROM event_outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var (
			r       outboxRow
			payload []byte
		)
		if err := rows.Scan(&r.ID, &r.Source, &r.Type, &payload, &r.Device, &r.Site); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(payload, &r.Data); err != nil {
			t.Fatalf("event %s data %s: %v", r.ID, payload, err)
		}
		out = append(out, r)
	}
	return out
}

func f(x float64) *float64 { return &x }

func TestSample2RaisesCriticalAndReject(t *testing.T) {
	db := testenv.DB(t)
	handle := events.Idempotent(db, Consumer, Handle)
	ctx := context.Background()
	e := storedEvent(t, fixtures.Sample2, sample.Source)

	if err := handle(ctx, e); err != nil {
		t.Fatalf("handle: %v", err)
	}
	want := []row{
		{"MG-261127-6331-083", "ESP32_DEMO_MT_01", alert.TypeQualityCritical, "critical", alert.TypeQualityCritical,
			"Score qualité critique: 0.36 (seuil: 0.40)",
			`{"tof_score": 0.1599683221643556, "fusion_grade": "REJECT", "fusion_score": 0.3574481579851127, "spectral_score": 0.30260521173699473}`,
			f(0.4), f(0.3574), false},
		{"MG-261127-6331-083", "ESP32_DEMO_MT_01", alert.TypeGradeReject, "critical", alert.TypeGradeReject,
			"Échantillon REJETÉ - Non conforme qualité",
			`{"fusion_score": 0.3574481579851127, "is_compliant": false}`, nil, nil, false},
	}
	if got := alertRows(t, db); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows:\n got %+v\nwant %+v", got, want)
	}
	ev := outbox(t, db)
	if len(ev) != 2 {
		t.Fatalf("%d outbox events, want 2", len(ev))
	}
	for i, typ := range []string{alert.TypeQualityCritical, alert.TypeGradeReject} {
		got := ev[i]
		if got.ID != "MG-261127-6331-083:"+typ || got.Source != alert.Source || got.Type != alert.TypeRaised ||
			got.Device != "ESP32_DEMO_MT_01" || got.Site != "MT" {
			t.Errorf("event %d = %+v", i, got)
		}
		// data is the AlertDB shape of §5.2: exactly its 11 keys.
		if len(got.Data) != 11 || got.Data["alert_type"] != typ || got.Data["is_acknowledged"] != false ||
			got.Data["sample_id"] != "MG-261127-6331-083" || got.Data["alert_id"] == nil || got.Data["acknowledged_at"] != nil {
			t.Errorf("event %d data = %v", i, got.Data)
		}
	}
	if ctx := ev[1].Data["data_context"].(map[string]any); ctx["is_compliant"] != false {
		t.Errorf("reject data_context = %v", ctx)
	}
}

func TestIdempotent(t *testing.T) {
	db := testenv.DB(t)
	handle := events.Idempotent(db, Consumer, Handle)
	ctx := context.Background()
	e := storedEvent(t, fixtures.Sample2, sample.Source)

	if err := handle(ctx, e); err != nil {
		t.Fatal(err)
	}
	rows, evs := alertRows(t, db), outbox(t, db)
	// Same event again (Knative redelivery), then the same sample under another source
	// (a replay through another path): neither adds a row or an event.
	redeliver(t, ctx, handle, e)
	if got := alertRows(t, db); !reflect.DeepEqual(got, rows) {
		t.Fatalf("rows changed on redelivery:\n got %+v\nwant %+v", got, rows)
	}
	if got := outbox(t, db); len(got) != len(evs) {
		t.Fatalf("%d events after redelivery, want %d", len(got), len(evs))
	}
}

func TestNoAlertForGoodSamples(t *testing.T) {
	db := testenv.DB(t)
	handle := events.Idempotent(db, Consumer, Handle)
	for _, fx := range []string{fixtures.Sample1, fixtures.Minimal} {
		if err := handle(context.Background(), storedEvent(t, fx, sample.Source)); err != nil {
			t.Fatalf("%s: %v", fx, err)
		}
	}
	if got := alertRows(t, db); len(got) != 0 {
		t.Fatalf("alerts for good samples: %+v", got)
	}
	if got := outbox(t, db); len(got) != 0 {
		t.Fatalf("events for good samples: %+v", got)
	}
}

func TestBadEventsArePermanent(t *testing.T) {
	db := testenv.DB(t)
	handle := events.Idempotent(db, Consumer, Handle)
	mk := func(typ string, data string) cloudevents.Event {
		e := cloudevents.NewEvent()
		e.SetID("x")
		e.SetSource(sample.Source)
		e.SetType(typ)
		_ = e.SetData(cloudevents.ApplicationJSON, []byte(data))
		return e
	}
	cases := []struct {
		name string
		e    cloudevents.Event
	}{
		{"wrong type", mk("sqal.other", `{}`)},
		{"not JSON", mk(sample.TypeStored, `{`)},
		{"wrong shape", mk(sample.TypeStored, `{"fusion_final_score":"high"}`)},
		{"no sample id", mk(sample.TypeStored, `{"device_id":"D","fusion_final_score":0.1}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := handle(context.Background(), tc.e)
			if !events.IsPermanent(err) {
				t.Fatalf("err = %v, want permanent", err)
			}
		})
	}
	if got := alertRows(t, db); len(got) != 0 {
		t.Fatalf("rows after bad events: %+v", got)
	}
}

func TestFailureLeavesNothingAndRetrySucceeds(t *testing.T) {
	db := testenv.DB(t)
	handle := events.Idempotent(db, Consumer, Handle)
	ctx := context.Background()
	e := storedEvent(t, fixtures.Sample2, sample.Source)

	// Provoke an outbox failure after the first alert row was written.
	if _, err := db.Exec(ctx, `ALTER TABLE event_outbox RENAME TO event_outbox_away`); err != nil {
		t.Fatal(err)
	}
	err := handle(ctx, e)
	if err == nil || events.IsPermanent(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}
	if got := alertRows(t, db); len(got) != 0 {
		t.Fatalf("rows after failed transaction: %+v", got)
	}
	if _, err := db.Exec(ctx, `ALTER TABLE event_outbox_away RENAME TO event_outbox`); err != nil {
		t.Fatal(err)
	}
	if err := handle(ctx, e); err != nil { // Knative's retry
		t.Fatal(err)
	}
	if got, evs := alertRows(t, db), outbox(t, db); len(got) != 2 || len(evs) != 2 {
		t.Fatalf("after retry: %d rows, %d events, want 2 and 2", len(got), len(evs))
	}
}

// redeliver hands e to handle again (a Knative redelivery), then the same sample
// (sample-2's fixture) under another source (a replay through another path).
func redeliver(t *testing.T, ctx context.Context, handle func(context.Context, cloudevents.Event) error, e cloudevents.Event) {
	t.Helper()
	if err := handle(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := handle(ctx, storedEvent(t, fixtures.Sample2, "/sqal/ingest/replay")); err != nil {
		t.Fatal(err)
	}
}
