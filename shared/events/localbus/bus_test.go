package localbus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/events/localbus"
	"github.com/sqalfn/sqal/shared/testenv"
)

// service records the events it receives and answers a scripted list of statuses
// (then 200).
type service struct {
	mu      sync.Mutex
	script  []int
	calls   int
	got     []cloudevents.Event
	paths   []string
	arrived chan string
	block   chan struct{} // when set, each call waits for it
}

func newService(script ...int) *service {
	return &service{script: script, arrived: make(chan string, 1000)}
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.block != nil {
		<-s.block
	}
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	status := http.StatusOK
	if s.calls < len(s.script) {
		status = s.script[s.calls]
	}
	s.calls++
	if status/100 == 2 {
		s.got = append(s.got, *e)
		s.paths = append(s.paths, r.URL.Path)
	}
	s.mu.Unlock()
	w.WriteHeader(status)
	if status/100 == 2 {
		s.arrived <- e.ID()
	}
}

func (s *service) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, e := range s.got {
		ids = append(ids, e.ID())
	}
	return ids
}

func (s *service) wait(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-s.arrived:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d events arrived", i, n)
		}
	}
}

func newBus(t *testing.T, opts localbus.Options) *localbus.Bus {
	t.Helper()
	ts, err := localbus.LoadTriggers("testdata/triggers")
	if err != nil {
		t.Fatal(err)
	}
	opts.Triggers = ts
	b, err := localbus.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return b
}

func stored(id string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetType("sqal.sample.stored")
	e.SetSource("/sqal/ingest")
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]string{"sample_id": id})
	return e
}

func TestIngressRoutesByTrigger(t *testing.T) {
	alerts, realtime, predict := newService(), newService(), newService()
	b := newBus(t, localbus.Options{Handlers: map[string]http.Handler{"alerts": alerts, "realtime": realtime, "predict": predict}})
	srv := httptest.NewServer(b)
	defer srv.Close()

	post := func(e cloudevents.Event, structured bool) int {
		t.Helper()
		var req *http.Request
		if structured {
			body, _ := e.MarshalJSON()
			req, _ = http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/cloudevents+json")
		} else {
			var err error
			if req, err = cehttp.NewHTTPRequestFromEvent(context.Background(), srv.URL, e); err != nil {
				t.Fatal(err)
			}
		}
		req.Header.Set("traceparent", "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}

	alert := stored("alert-1")
	alert.SetType("sqal.alert.raised")
	cases := []struct {
		e          cloudevents.Event
		structured bool
	}{{stored("s-1"), false}, {stored("s-2"), true}, {alert, false}}
	for _, c := range cases {
		if code := post(c.e, c.structured); code != http.StatusAccepted {
			t.Fatalf("POST %s: %d", c.e.ID(), code)
		}
	}
	alerts.wait(t, 2)
	realtime.wait(t, 3)
	predict.wait(t, 2)
	if got := fmt.Sprint(alerts.received()); got != "[s-1 s-2]" {
		t.Errorf("alerts got %s", got)
	}
	if got := fmt.Sprint(realtime.received()); got != "[s-1 s-2 alert-1]" {
		t.Errorf("realtime got %s (in publish order)", got)
	}
	realtime.mu.Lock()
	if realtime.paths[0] != "/events" {
		t.Errorf("realtime called at %s, want the trigger's uri /events", realtime.paths[0])
	}
	if tp := realtime.got[0].Extensions()["traceparent"]; tp == nil {
		t.Error("traceparent header not carried to the subscriber")
	}
	realtime.mu.Unlock()

	// Not a CloudEvent: 400.
	res, err := http.Post(srv.URL, "application/json", bytes.NewReader([]byte(`{"a":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("plain JSON POST: %d, want 400", res.StatusCode)
	}
}

func TestRetriesThenDelivers(t *testing.T) {
	alerts := newService(503, 429, 404)
	b := newBus(t, localbus.Options{Handlers: map[string]http.Handler{"alerts": alerts}})
	if err := b.Publish(context.Background(), stored("s-1")); err != nil {
		t.Fatal(err)
	}
	alerts.wait(t, 1)
	// The service signals before its answer reaches the bus: wait for the count.
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().Delivered == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := b.Stats(); st.Retries != 3 || st.Delivered != 1 || st.DeadLettered != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestDeadLetters(t *testing.T) {
	ctx := context.Background()
	db := testenv.DB(t)
	tests := []struct {
		name         string
		script       []int
		wantAttempts int
		wantStatus   int
	}{
		// alerts-sample-stored: retry 3 -> 4 attempts.
		{"retries exhausted", []int{500, 500, 500, 500}, 4, 500},
		// A 400 is not retried (events.Permanent in the consumer).
		{"permanent failure", []int{400}, 1, 400},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alerts := newService(tc.script...)
			b := newBus(t, localbus.Options{DB: db, Handlers: map[string]http.Handler{"alerts": alerts}})
			id := fmt.Sprintf("dead-%d", i)
			if err := b.Publish(ctx, stored(id)); err != nil {
				t.Fatal(err)
			}
			var attempts, status int
			var origin string
			deadline := time.Now().Add(5 * time.Second)
			for {
				err := db.QueryRow(ctx, `SELECT origin, attempts, last_status FROM event_dead_letters WHERE event_id = $1`, id).Scan(&origin, &attempts, &status)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no dead letter for %s: %v", id, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if origin != "alerts-sample-stored" || attempts != tc.wantAttempts || status != tc.wantStatus {
				t.Errorf("dead letter = %s attempts %d status %d; want alerts-sample-stored %d %d", origin, attempts, status, tc.wantAttempts, tc.wantStatus)
			}
		})
	}
}

// A consumer that does not keep up fills its own queue only: the others keep
// receiving, and the bus refuses (ErrFull, transient) instead of blocking.
func TestSlowConsumerDoesNotBlockOthers(t *testing.T) {
	alerts, realtime := newService(), newService()
	alerts.block = make(chan struct{})
	b := newBus(t, localbus.Options{QueueSize: 4, Handlers: map[string]http.Handler{"alerts": alerts, "realtime": realtime}})
	ctx := context.Background()

	var full error
	sent := 0
	for i := 0; i < 20; i++ {
		if err := b.Publish(ctx, stored(fmt.Sprint("s-", i))); err != nil {
			full = err
			break
		}
		sent++
	}
	if !errors.Is(full, localbus.ErrFull) || events.IsPermanent(full) {
		t.Fatalf("publishing into a full queue: %v, want ErrFull", full)
	}
	realtime.wait(t, sent) // delivered although alerts is stuck
	// An event only realtime wants still gets in.
	alert := stored("alert-1")
	alert.SetType("sqal.alert.raised")
	if err := b.Publish(ctx, alert); err != nil {
		t.Errorf("event for a free subscriber refused: %v", err)
	}
	close(alerts.block)
	alerts.wait(t, sent)
}

func TestCloseDrainsQueues(t *testing.T) {
	var n atomic.Int32
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		n.Add(1)
	})
	ts, err := localbus.LoadTriggers("testdata/triggers")
	if err != nil {
		t.Fatal(err)
	}
	b, err := localbus.New(localbus.Options{Triggers: ts, Handlers: map[string]http.Handler{"alerts": slow}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := b.Publish(context.Background(), stored(fmt.Sprint("s-", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 50 {
		t.Errorf("delivered %d of 50 queued events before Close returned", n.Load())
	}
	if err := b.Publish(context.Background(), stored("late")); !errors.Is(err, localbus.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}

func BenchmarkPublishDeliver(b *testing.B) {
	var wg sync.WaitGroup
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { wg.Done() })
	ts, err := localbus.LoadTriggers("testdata/triggers")
	if err != nil {
		b.Fatal(err)
	}
	bus, err := localbus.New(localbus.Options{Triggers: ts, QueueSize: 1 << 16, Handlers: map[string]http.Handler{"alerts": h}})
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close(context.Background())
	e := stored("s")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		if err := bus.Publish(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
}
