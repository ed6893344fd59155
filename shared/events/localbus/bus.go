// Package localbus is the event bus of the local runner (`make run`): a Knative
// Broker stand-in that accepts CloudEvents over HTTP (binary and structured mode) or
// in process, and delivers them to in-process function handlers according to the
// same Knative Trigger files the cluster uses (knative/triggers/*.yaml): same
// filters, same retry and backoff, and a row in event_dead_letters after the last
// attempt. Local and cluster routing thereby share one source of truth.
//
// Each Trigger is a subscription with a bounded queue and its own delivery
// goroutine(s), so a slow consumer never blocks ingestion or the other consumers;
// when a queue is full the bus refuses new events (503, or an error from Publish)
// and the outbox relay retries them later. Events that fail are retried on their own
// goroutines, so one failing event does not hold up the ones behind it.
package localbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/events"
)

// Options configures New.
type Options struct {
	// Triggers to apply (LoadTriggers reads them from the knative/triggers folder).
	Triggers []Trigger
	// Handlers serve each Knative Service by name, in process. A Trigger whose
	// subscriber is not here is skipped with a warning.
	Handlers map[string]http.Handler
	// DB receives the dead letters (event_dead_letters); nil only logs them.
	DB *pgxpool.Pool
	// Logger; nil discards.
	Logger *slog.Logger
	// QueueSize bounds the events waiting per subscription (default 1024).
	QueueSize int
	// Workers delivers each subscription's events with this many goroutines
	// (default 1: in publish order, which the realtime dashboards rely on).
	Workers int
	// MaxRetrying bounds the events of one subscription waiting for a retry
	// (default 256); beyond it the subscription's delivery waits.
	MaxRetrying int
}

// ErrFull is returned (503 at the ingress) when a matching subscription's queue is
// full. It is transient: the sender retries.
var ErrFull = errors.New("localbus: a subscriber queue is full")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("localbus: closed")

// Stats counts what the bus did since it started.
type Stats struct {
	Accepted     uint64 // events taken in (each counted once, whatever its subscriptions)
	Delivered    uint64 // successful deliveries (per subscription)
	Retries      uint64 // delivery attempts after the first
	DeadLettered uint64 // deliveries given up
	Unrouted     uint64 // events no Trigger matched
}

// Bus is the local broker.
type Bus struct {
	subs     []*subscription
	handlers map[string]http.Handler
	db       *pgxpool.Pool
	log      *slog.Logger

	mu     sync.Mutex // makes "all queues have room, enqueue everywhere" atomic
	closed bool

	deliverCtx    context.Context // cancelled when Close gives up draining
	cancelDeliver context.CancelFunc
	stopRetries   chan struct{} // closed by Close: retrying events are dead-lettered
	workers       sync.WaitGroup
	retrying      sync.WaitGroup

	accepted, delivered, retries, deadLettered, unrouted atomic.Uint64
}

type subscription struct {
	trigger  Trigger
	policy   retryPolicy
	service  string
	handler  http.Handler
	queue    chan cloudevents.Event
	retrySem chan struct{}
}

// New starts a bus. Close stops it.
func New(opts Options) (*Bus, error) {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.MaxRetrying <= 0 {
		opts.MaxRetrying = 256
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{
		handlers: opts.Handlers, db: opts.DB, log: log,
		deliverCtx: ctx, cancelDeliver: cancel, stopRetries: make(chan struct{}),
	}
	seen := map[string]bool{}
	for _, t := range opts.Triggers {
		if err := t.check(); err != nil {
			cancel()
			return nil, fmt.Errorf("localbus: trigger %q: %w", t.Metadata.Name, err)
		}
		if seen[t.Metadata.Name] {
			cancel()
			return nil, fmt.Errorf("localbus: trigger %q defined twice", t.Metadata.Name)
		}
		seen[t.Metadata.Name] = true
		h, ok := opts.Handlers[t.Spec.Subscriber.Service()]
		if !ok {
			log.Warn("trigger skipped: its subscriber is not served locally",
				"trigger", t.Metadata.Name, "service", t.Spec.Subscriber.Service())
			continue
		}
		p, _ := t.retryPolicy() // checked above
		b.subs = append(b.subs, &subscription{
			trigger: t, policy: p, service: t.Spec.Subscriber.Service(), handler: h,
			queue:    make(chan cloudevents.Event, opts.QueueSize),
			retrySem: make(chan struct{}, opts.MaxRetrying),
		})
	}
	for _, s := range b.subs {
		for i := 0; i < opts.Workers; i++ {
			b.workers.Add(1)
			go b.work(s)
		}
	}
	return b, nil
}

// Subscriptions lists the active Trigger names.
func (b *Bus) Subscriptions() []string {
	out := make([]string, len(b.subs))
	for i, s := range b.subs {
		out[i] = s.trigger.Metadata.Name
	}
	return out
}

// Stats returns the counters.
func (b *Bus) Stats() Stats {
	return Stats{
		Accepted: b.accepted.Load(), Delivered: b.delivered.Load(), Retries: b.retries.Load(),
		DeadLettered: b.deadLettered.Load(), Unrouted: b.unrouted.Load(),
	}
}

// ServeHTTP is the broker ingress: POST one CloudEvent in binary or structured
// mode; 202 when accepted, 400 when malformed, 503 when a queue is full or the bus
// is closing.
func (b *Bus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a CloudEvent", http.StatusMethodNotAllowed)
		return
	}
	if cehttp.IsHTTPBatch(r.Header) {
		http.Error(w, "batched CloudEvents are not supported", http.StatusBadRequest)
		return
	}
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	// The W3C header carries the trace across a broker; keep it with the event.
	if tp := r.Header.Get("traceparent"); tp != "" {
		if _, ok := e.Extensions()[events.ExtTraceParent]; !ok {
			e.SetExtension(events.ExtTraceParent, tp)
			if ts := r.Header.Get("tracestate"); ts != "" {
				e.SetExtension(events.ExtTraceState, ts)
			}
		}
	}
	switch err := b.Publish(r.Context(), *e); {
	case err == nil:
		w.WriteHeader(http.StatusAccepted)
	case events.IsPermanent(err):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	}
}

// Publish routes e to every matching subscription, or to none when one of them is
// full (ErrFull): an event is taken whole or not at all. It implements
// events.Sender, so the outbox relay can feed the bus without HTTP.
func (b *Bus) Publish(ctx context.Context, e cloudevents.Event) error {
	if err := e.Validate(); err != nil {
		return events.Permanent(fmt.Errorf("localbus: invalid event %q: %w", e.ID(), err))
	}
	events.WithTraceContext(ctx, &e)
	var match []*subscription
	for _, s := range b.subs {
		if s.trigger.Matches(e) {
			match = append(match, s)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	for _, s := range match {
		if len(s.queue) == cap(s.queue) {
			b.log.WarnContext(ctx, "event refused: subscriber queue full", "trigger", s.trigger.Metadata.Name, "event_id", e.ID())
			return ErrFull
		}
	}
	b.accepted.Add(1)
	if len(match) == 0 {
		b.unrouted.Add(1)
		b.log.DebugContext(ctx, "event matched no trigger", "type", e.Type(), "event_id", e.ID())
	}
	for _, s := range match {
		s.queue <- e // room was checked under the lock; only workers take from it
	}
	return nil
}

// Close stops taking events, delivers what is queued until ctx ends, then gives up:
// events still queued or waiting for a retry are dead-lettered (reason "bus
// closed"), so nothing disappears silently. It waits for every goroutine.
func (b *Bus) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, s := range b.subs {
		close(s.queue)
	}
	b.mu.Unlock()
	close(b.stopRetries)

	done := make(chan struct{})
	go func() {
		b.workers.Wait()
		b.retrying.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		b.cancelDeliver() // in-flight deliveries end; the rest is dead-lettered
		<-done
		return fmt.Errorf("localbus: close: %w", ctx.Err())
	}
}

func (b *Bus) work(s *subscription) {
	defer b.workers.Done()
	for e := range s.queue {
		if b.deliverCtx.Err() != nil {
			b.deadLetter(s, e, 0, 0, "bus closed before delivery")
			continue
		}
		status, err := b.deliver(s, e)
		if err == nil {
			b.delivered.Add(1)
			continue
		}
		if (status != 0 && !events.RetriableStatus(status)) || s.policy.retries == 0 {
			b.deadLetter(s, e, 1, status, err.Error())
			continue
		}
		// Retry on a goroutine of its own so the events behind this one go on.
		s.retrySem <- struct{}{}
		b.retrying.Add(1)
		go func() {
			defer func() { <-s.retrySem; b.retrying.Done() }()
			b.retry(s, e, status, err)
		}()
	}
}

func (b *Bus) retry(s *subscription, e cloudevents.Event, status int, err error) {
	for n := 1; n <= s.policy.retries; n++ {
		select {
		case <-time.After(s.policy.wait(n)):
		case <-b.stopRetries:
			b.deadLetter(s, e, n, status, fmt.Sprintf("bus closed while retrying; last error: %v", err))
			return
		}
		b.retries.Add(1)
		status, err = b.deliver(s, e)
		if err == nil {
			b.delivered.Add(1)
			return
		}
		if status != 0 && !events.RetriableStatus(status) {
			b.deadLetter(s, e, n+1, status, err.Error())
			return
		}
	}
	b.deadLetter(s, e, s.policy.retries+1, status, err.Error())
}

// deliver makes one attempt: the event in binary mode to the subscriber's handler,
// called in process. It returns the HTTP status (0 when the handler could not be
// called) and an error unless 2xx. A reply event in the response is published back
// into the bus, as a Knative Broker does.
func (b *Bus) deliver(s *subscription, e cloudevents.Event) (int, error) {
	return b.call(s.service, s.handler, s.trigger.Spec.Subscriber.Path(), s.policy.timeout, e)
}

func (b *Bus) call(service string, h http.Handler, path string, timeout time.Duration, e cloudevents.Event) (status int, err error) {
	ctx, cancel := context.WithTimeout(b.deliverCtx, timeout)
	defer cancel()
	req, err := cehttp.NewHTTPRequestFromEvent(ctx, "http://"+service+path, e)
	if err != nil {
		return 0, fmt.Errorf("build request for %s: %w", service, err)
	}
	for k, v := range events.TraceHeaders(e) {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != nil {
				b.log.Error("subscriber panicked", "service", service, "event_id", e.ID(), "panic", p)
				rec = httptest.NewRecorder()
				rec.WriteHeader(http.StatusInternalServerError)
			}
		}()
		h.ServeHTTP(rec, req)
	}()
	res := rec.Result()
	if res.StatusCode/100 != 2 {
		body := strings.TrimSpace(rec.Body.String())
		return res.StatusCode, fmt.Errorf("%s%s answered %d: %s", service, path, res.StatusCode, truncate(body, 300))
	}
	if res.Header.Get("Ce-Id") != "" || strings.HasPrefix(res.Header.Get("Content-Type"), "application/cloudevents+json") {
		if reply, err := cehttp.NewEventFromHTTPResponse(res); err == nil {
			if err := b.Publish(ctx, *reply); err != nil {
				b.log.Warn("reply event refused", "service", service, "event_id", reply.ID(), "error", err)
			}
		}
	}
	return res.StatusCode, nil
}

// deadLetter gives up on e for s: to the Trigger's deadLetterSink when that service
// is served locally (with Knative's knativeerror* extensions), else (or when that
// fails) into event_dead_letters.
func (b *Bus) deadLetter(s *subscription, e cloudevents.Event, attempts, status int, reason string) {
	b.deadLettered.Add(1)
	name := s.trigger.Metadata.Name
	b.log.Error("event dead-lettered", "trigger", name, "service", s.service, "event_id", e.ID(),
		"type", e.Type(), "attempts", attempts, "status", status, "error", reason)
	if dls := s.policy.deadLetter; dls != nil && b.deliverCtx.Err() == nil {
		if h, ok := b.handlers[dls.Service()]; ok {
			de := e.Clone()
			de.SetExtension("knativeerrordest", "http://"+s.service+s.trigger.Spec.Subscriber.Path())
			if status != 0 {
				de.SetExtension("knativeerrorcode", status)
			}
			de.SetExtension("knativeerrordata", truncate(reason, 1024))
			_, err := b.call(dls.Service(), h, dls.Path(), s.policy.timeout, de)
			if err == nil {
				return
			}
			b.log.Error("dead-letter sink failed", "trigger", name, "sink", dls.Service(), "error", err)
		}
	}
	if b.db == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := events.WriteDeadLetter(ctx, b.db, events.DeadLetter{
		Origin: name, Subscriber: s.service, Event: e, Attempts: attempts, LastStatus: status, LastError: reason,
	})
	if err != nil {
		b.log.Error("dead letter lost", "trigger", name, "event_id", e.ID(), "error", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
