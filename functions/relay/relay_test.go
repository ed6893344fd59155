package relay

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/testenv"
)

type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) Publish(_ context.Context, e cloudevents.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, e.ID())
	return nil
}

func ping(data string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID("ping-1")
	e.SetSource("/apis/v1/namespaces/sqal/pingsources/outbox-relay")
	e.SetType("dev.knative.sources.ping")
	_ = e.SetData(cloudevents.ApplicationJSON, []byte(data))
	return e
}

func TestPingDeliversDueOutboxRows(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)
	pub := &recorder{}
	h, err := setup(ctx, &runtime.Env{DB: database.NewDB(db), Publisher: pub, Logger: slog.New(slog.DiscardHandler), Lookup: mapLookup{}})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit; never leave the pool waiting
	for _, id := range []string{"S-1", "S-2"} {
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetSource("/sqal/ingest")
		e.SetType("sqal.sample.stored")
		_ = e.SetData(cloudevents.ApplicationJSON, map[string]string{"sample_id": id})
		if err := events.AddToOutbox(ctx, tx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	if err := h(ctx, ping(`{"task":"outbox"}`)); err != nil {
		t.Fatalf("outbox task: %v", err)
	}
	if strings.Join(pub.ids, ",") != "S-1,S-2" {
		t.Fatalf("delivered %v, want S-1,S-2 in order", pub.ids)
	}
	// A second ping has nothing left to send.
	if err := h(ctx, ping(`{"task":"outbox"}`)); err != nil || len(pub.ids) != 2 {
		t.Fatalf("second ping: %v, delivered %v", err, pub.ids)
	}
	if err := h(ctx, ping(`{"task":"retention"}`)); err != nil {
		t.Fatalf("retention task: %v", err)
	}
}

func TestBadTaskIsPermanent(t *testing.T) {
	db := testenv.DB(t)
	h, err := setup(context.Background(), &runtime.Env{DB: database.NewDB(db), Publisher: &recorder{}, Logger: slog.New(slog.DiscardHandler), Lookup: mapLookup{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{`{"task":"explode"}`, `[1,2]`} {
		if err := h(context.Background(), ping(data)); !events.IsPermanent(err) {
			t.Errorf("data %s: error %v is not permanent", data, err)
		}
	}
}

func TestOtherEventsAreRecordedAsDeadLetters(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)
	h, err := setup(ctx, &runtime.Env{DB: database.NewDB(db), Publisher: &recorder{}, Logger: slog.New(slog.DiscardHandler), Lookup: mapLookup{}})
	if err != nil {
		t.Fatal(err)
	}
	e := cloudevents.NewEvent()
	e.SetID("MG-1")
	e.SetSource("/sqal/ingest")
	e.SetType("sqal.sample.stored")
	e.SetExtension("knativeerrordest", "http://alerts.sqal.svc.cluster.local")
	e.SetExtension("knativeerrorcode", "500")
	e.SetExtension("knativeerrordata", "Ym9vbQ==") // "boom"
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]string{"sample_id": "MG-1"})
	if err := h(ctx, e); err != nil {
		t.Fatal(err)
	}
	var subscriber, lastErr string
	var status int
	err = db.QueryRow(ctx, `SELECT subscriber, last_status, last_error FROM event_dead_letters WHERE event_id = 'MG-1'`).Scan(&subscriber, &status, &lastErr)
	if err != nil {
		t.Fatalf("dead letter not recorded: %v", err)
	}
	if subscriber != "http://alerts.sqal.svc.cluster.local" || status != 500 || lastErr != "boom" {
		t.Fatalf("dead letter = %q %d %q", subscriber, status, lastErr)
	}
}

func TestNoBrokerFailsAtSetup(t *testing.T) {
	if _, err := setup(context.Background(), &runtime.Env{Logger: slog.New(slog.DiscardHandler), Lookup: mapLookup{}}); err == nil {
		t.Fatal("setup without a publisher succeeded")
	}
}

type mapLookup map[string]string

func (m mapLookup) Lookup(k string) (string, bool) { v, ok := m[k]; return v, ok }
