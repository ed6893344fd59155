package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

// switchBroker drops connections while down, accepts events otherwise, and counts
// deliveries per event id.
type switchBroker struct {
	down     atomic.Bool
	mu       sync.Mutex
	received map[string]int
	last     map[string]cloudevents.Event
	arrived  chan string
}

func newSwitchBroker() *switchBroker {
	return &switchBroker{received: map[string]int{}, last: map[string]cloudevents.Event{}, arrived: make(chan string, 10000)}
}

func (b *switchBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.down.Load() {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // the broker is unreachable
		}
		return
	}
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.received[e.ID()]++
	b.last[e.ID()] = *e
	b.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	b.arrived <- e.ID()
}

func (b *switchBroker) count(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.received[id]
}

func publisherTo(t *testing.T, url string) *events.Publisher {
	t.Helper()
	// One attempt per relay pass: the relay owns the retry schedule of outbox rows.
	p, err := events.NewPublisher(context.Background(), events.PublisherConfig{BrokerURL: url, MaxAttempts: 1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sampleEvent(id string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("/sqal/ingest")
	e.SetType("sqal.sample.stored")
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]string{"sample_id": id})
	return e
}

func addEvents(t *testing.T, db *pgxpool.Pool, ids ...string) {
	t.Helper()
	ctx := spanCtx()
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		for _, id := range ids {
			if err := events.AddToOutbox(ctx, tx, sampleEvent(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOutboxDeliversAfterBrokerOutage(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)
	b := newSwitchBroker()
	srv := httptest.NewServer(b)
	defer srv.Close()
	relay := events.NewRelay(db, publisherTo(t, srv.URL), events.RelayConfig{InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}, nil)

	b.down.Store(true)
	addEvents(t, db, "sample-1")
	addEvents(t, db, "sample-1") // a producer writing the same event again stores it once
	for i := 0; i < 3; i++ {
		n, err := relay.RunOnce(ctx)
		if err != nil || n != 0 {
			t.Fatalf("RunOnce while broker down = %d, %v", n, err)
		}
		time.Sleep(5 * time.Millisecond) // past the row's backoff
	}
	var attempts int
	var lastErr *string
	if err := db.QueryRow(ctx, `SELECT attempts, last_error FROM event_outbox WHERE event_id = 'sample-1'`).Scan(&attempts, &lastErr); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || lastErr == nil {
		t.Errorf("after 3 failed passes: attempts = %d, last_error = %v", attempts, lastErr)
	}
	if pending, _ := events.Pending(ctx, db); pending != 1 {
		t.Errorf("pending = %d, want 1 (the row must survive the outage)", pending)
	}

	b.down.Store(false)
	n, err := relay.RunOnce(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RunOnce after recovery = %d, %v; want 1 delivered", n, err)
	}
	if c := b.count("sample-1"); c != 1 {
		t.Errorf("broker received sample-1 %d times, want 1", c)
	}
	b.mu.Lock()
	got := b.last["sample-1"]
	b.mu.Unlock()
	if got.Type() != "sqal.sample.stored" || string(got.Data()) != `{"sample_id":"sample-1"}` || got.Time().IsZero() {
		t.Errorf("delivered event = %s", got)
	}
	if tp := got.Extensions()[events.ExtTraceParent]; tp != traceparent {
		t.Errorf("traceparent = %v, want the producer's %s", tp, traceparent)
	}
	if n, _ := relay.RunOnce(ctx); n != 0 || b.count("sample-1") != 1 {
		t.Errorf("a delivered row was sent again")
	}
}

// A broker that rejects an event as malformed will never accept it: the row moves to
// the dead letters instead of blocking the outbox.
func TestOutboxDeadLettersRejectedEvents(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "malformed", http.StatusBadRequest)
	}))
	defer srv.Close()
	addEvents(t, db, "bad-1")
	if _, err := events.NewRelay(db, publisherTo(t, srv.URL), events.RelayConfig{}, nil).RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var dead int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM event_dead_letters WHERE event_id = 'bad-1' AND origin = 'outbox-relay'`).Scan(&dead); err != nil {
		t.Fatal(err)
	}
	if pending, _ := events.Pending(ctx, db); dead != 1 || pending != 0 {
		t.Errorf("dead letters = %d, pending = %d; want 1, 0", dead, pending)
	}
}

func TestTwoRelaysDeliverEachRowOnce(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)
	b := newSwitchBroker()
	srv := httptest.NewServer(b)
	defer srv.Close()

	const n = 400
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("s-%04d", i)
	}
	addEvents(t, db, ids...)
	cfg := events.RelayConfig{BatchSize: 25, Concurrency: 4}
	r1 := events.NewRelay(db, publisherTo(t, srv.URL), cfg, nil)
	r2 := events.NewRelay(db, publisherTo(t, srv.URL), cfg, nil)
	start := time.Now()
	var wg sync.WaitGroup
	var total atomic.Int64
	for _, r := range []*events.Relay{r1, r2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := r.RunOnce(ctx)
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(got))
		}()
	}
	wg.Wait()
	t.Logf("two relays delivered %d events in %s", total.Load(), time.Since(start))
	if total.Load() != n {
		t.Errorf("delivered %d, want %d", total.Load(), n)
	}
	for _, id := range ids {
		if c := b.count(id); c != 1 {
			t.Errorf("event %s delivered %d times", id, c)
		}
	}
}

// Run wakes on the commit of the writing transaction, not on its poll.
func TestRelayRunWakesOnCommit(t *testing.T) {
	db := testenv.DB(t)
	b := newSwitchBroker()
	srv := httptest.NewServer(b)
	defer srv.Close()
	relay := events.NewRelay(db, publisherTo(t, srv.URL), events.RelayConfig{PollInterval: time.Hour}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- relay.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	time.Sleep(200 * time.Millisecond) // let the relay LISTEN
	var latencies []time.Duration
	for i := 0; i < 20; i++ {
		id := fmt.Sprintf("live-%d", i)
		start := time.Now()
		addEvents(t, db, id)
		select {
		case got := <-b.arrived:
			if got != id {
				t.Fatalf("arrived %s, want %s", got, id)
			}
			latencies = append(latencies, time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatalf("event %s not relayed within 5s (poll interval is 1h: the notification was missed)", id)
		}
	}
	t.Logf("commit-to-broker latencies: %v", latencies)
}

// NewOutboxRow is the row AddToOutbox writes: trace context and organisation of ctx,
// a time when the event has none, and the invalid event refused.
func TestNewOutboxRow(t *testing.T) {
	ctx := tenant.With(spanCtx(), tenant.Org("00000000-0000-4000-8000-0000000000b2"))
	before := time.Now()
	row, err := events.NewOutboxRow(ctx, sampleEvent("S-1"))
	if err != nil {
		t.Fatal(err)
	}
	if row.EventID != "S-1" || row.Source != "/sqal/ingest" || row.Type != "sqal.sample.stored" || row.Subject != nil {
		t.Errorf("row = %+v", row)
	}
	if string(row.Payload) != `{"sample_id":"S-1"}` {
		t.Errorf("payload = %s", row.Payload)
	}
	var attrs map[string]string
	if err := json.Unmarshal([]byte(row.Attributes), &attrs); err != nil {
		t.Fatal(err)
	}
	if attrs[tenant.EventExtension] != "00000000-0000-4000-8000-0000000000b2" || attrs[events.ExtTraceParent] == "" {
		t.Errorf("attributes = %v", attrs)
	}
	if at, err := time.Parse(time.RFC3339Nano, attrs["time"]); err != nil || at.Before(before.Truncate(time.Microsecond)) {
		t.Errorf("time = %q (%v), want now", attrs["time"], err)
	}
	if len(row.Args()) != len(strings.Split(events.OutboxColumns, ",")) {
		t.Errorf("%d args for the columns %q", len(row.Args()), events.OutboxColumns)
	}

	bad := sampleEvent("")
	if _, err := events.NewOutboxRow(ctx, bad); err == nil {
		t.Error("an event without id was accepted")
	}
}
