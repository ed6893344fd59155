package events

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel/trace"
)

// broker is a fake broker ingress answering a scripted list of statuses (0 = drop
// the connection) and then 202; it records the events it accepted.
type broker struct {
	mu       sync.Mutex
	script   []int
	calls    int
	accepted []cloudevents.Event
	headers  []http.Header
}

func (b *broker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	status := http.StatusAccepted
	if b.calls < len(b.script) {
		status = b.script[b.calls]
	}
	b.calls++
	b.mu.Unlock()
	if status == 0 {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if status/100 == 2 {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		b.accepted = append(b.accepted, *e)
		b.headers = append(b.headers, r.Header.Clone())
		b.mu.Unlock()
	}
	w.WriteHeader(status)
}

func (b *broker) setScript(s ...int) {
	b.mu.Lock()
	b.script, b.calls = s, 0
	b.mu.Unlock()
}

func (b *broker) snapshot() (calls int, accepted []cloudevents.Event, headers []http.Header) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls, append([]cloudevents.Event(nil), b.accepted...), append([]http.Header(nil), b.headers...)
}

func newEvent(id string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource("/sqal/test")
	e.SetType("sqal.test.happened")
	e.SetSubject("subject-" + id)
	_ = e.SetData(cloudevents.ApplicationJSON, map[string]string{"id": id})
	e.SetExtension("sqalsite", "LL")
	return e
}

func spanContext() context.Context {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

const wantTraceparent = "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"

func TestPublish(t *testing.T) {
	tests := []struct {
		name      string
		script    []int
		wantCalls int
		wantErr   bool
		permanent bool
	}{
		{name: "accepted", script: nil, wantCalls: 1},
		{name: "transient statuses retried", script: []int{503, 429, 500, 404}, wantCalls: 5},
		{name: "dropped connection retried", script: []int{0, 0}, wantCalls: 3},
		{name: "bad request is permanent", script: []int{400}, wantCalls: 1, wantErr: true, permanent: true},
		{name: "gives up after max attempts", script: []int{503, 503, 503, 503, 503, 503}, wantCalls: 5, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &broker{}
			b.setScript(tc.script...)
			srv := httptest.NewServer(b)
			defer srv.Close()
			p, err := NewPublisher(context.Background(), PublisherConfig{BrokerURL: srv.URL, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Publish(spanContext(), newEvent("e-1"))
			if (err != nil) != tc.wantErr || IsPermanent(err) != tc.permanent {
				t.Fatalf("Publish() = %v, want error %v, permanent %v", err, tc.wantErr, tc.permanent)
			}
			calls, accepted, headers := b.snapshot()
			if calls != tc.wantCalls {
				t.Errorf("broker called %d times, want %d", calls, tc.wantCalls)
			}
			if tc.wantErr {
				return
			}
			if len(accepted) != 1 {
				t.Fatalf("accepted %d events", len(accepted))
			}
			got := accepted[0]
			if got.ID() != "e-1" || got.Type() != "sqal.test.happened" || string(got.Data()) != `{"id":"e-1"}` {
				t.Errorf("event = %v", got)
			}
			if tp := got.Extensions()[ExtTraceParent]; tp != wantTraceparent {
				t.Errorf("traceparent extension = %v, want %s", tp, wantTraceparent)
			}
			if h := headers[0].Get("traceparent"); h != wantTraceparent {
				t.Errorf("traceparent header = %q, want %s", h, wantTraceparent)
			}
		})
	}
}

func TestPublishHonoursContext(t *testing.T) {
	b := &broker{}
	b.setScript(503, 503, 503, 503, 503)
	srv := httptest.NewServer(b)
	defer srv.Close()
	p, err := NewPublisher(context.Background(), PublisherConfig{BrokerURL: srv.URL, InitialBackoff: time.Hour, MaxBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Publish(ctx, newEvent("e-1")); err == nil {
		t.Fatal("Publish succeeded against a failing broker")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Publish returned after %s, want soon after the context ended", d)
	}
}

func TestPublishRejectsInvalidEvents(t *testing.T) {
	p, err := NewPublisher(context.Background(), PublisherConfig{BrokerURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEvent("")
	if err := p.Publish(context.Background(), e); !IsPermanent(err) {
		t.Errorf("Publish(event without id) = %v, want a permanent error", err)
	}
	if _, err := NewPublisher(context.Background(), PublisherConfig{}); err == nil {
		t.Error("NewPublisher without a target succeeded")
	}
}

func TestEncodeDecodeEvent(t *testing.T) {
	e := newEvent("e-9")
	e.SetTime(time.Date(2026, 11, 27, 8, 0, 0, 123456000, time.UTC))
	e.SetDataSchema("https://example.com/schema")
	e.SetExtension("lotid", 42)
	payload, attrs, err := encodeEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	subject := e.Subject()
	got, err := decodeEvent(e.ID(), e.Source(), e.Type(), &subject, payload, []byte(attrs))
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != decodedString(t, e) {
		t.Errorf("round trip:\n got %s\nwant %s", got, e)
	}
}

// decodedString is e as it reads after the round trip: extension values become strings.
func decodedString(t *testing.T, e cloudevents.Event) string {
	t.Helper()
	c := e.Clone()
	for k, v := range e.Extensions() {
		s, err := typesFormat(v)
		if err != nil {
			t.Fatal(err)
		}
		c.SetExtension(k, s)
	}
	return c.String()
}
