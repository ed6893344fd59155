package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"go.opentelemetry.io/otel/propagation"
)

// Sender sends one CloudEvent towards the broker. *Publisher implements it, and so
// does the local event bus; runtime.Publisher is the same interface.
type Sender interface {
	Publish(ctx context.Context, e cloudevents.Event) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func(ctx context.Context, e cloudevents.Event) error

// Publish calls f.
func (f SenderFunc) Publish(ctx context.Context, e cloudevents.Event) error { return f(ctx, e) }

// Trace context extension attribute names (CloudEvents distributed tracing extension).
const (
	ExtTraceParent = "traceparent"
	ExtTraceState  = "tracestate"
)

var traceContext = propagation.TraceContext{}

// WithTraceContext sets the traceparent (and tracestate) extensions of e from the span
// in ctx, unless e already carries a traceparent (an event relayed from the outbox
// keeps the trace of the request that wrote it). Nothing is set without a valid span.
func WithTraceContext(ctx context.Context, e *cloudevents.Event) {
	if _, ok := e.Extensions()[ExtTraceParent]; ok {
		return
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	if tp := carrier.Get(ExtTraceParent); tp != "" {
		e.SetExtension(ExtTraceParent, tp)
		if ts := carrier.Get(ExtTraceState); ts != "" {
			e.SetExtension(ExtTraceState, ts)
		}
	}
}

// ContextWithTrace returns ctx carrying the remote span context named by e's
// traceparent extension, so that a consumer's spans continue the producer's trace.
func ContextWithTrace(ctx context.Context, e cloudevents.Event) context.Context {
	carrier := propagation.MapCarrier{}
	for _, k := range []string{ExtTraceParent, ExtTraceState} {
		if v, ok := e.Extensions()[k]; ok {
			if s, err := types.ToString(v); err == nil {
				carrier.Set(k, s)
			}
		}
	}
	if carrier.Get(ExtTraceParent) == "" {
		return ctx
	}
	return traceContext.Extract(ctx, carrier)
}

// TraceHeaders returns the W3C trace headers (traceparent, tracestate) for e: its
// trace extensions, which a Knative Broker forwards as HTTP headers.
func TraceHeaders(e cloudevents.Event) map[string]string {
	h := map[string]string{}
	for _, k := range []string{ExtTraceParent, ExtTraceState} {
		if v, ok := e.Extensions()[k]; ok {
			if s, err := types.ToString(v); err == nil && s != "" {
				h[k] = s
			}
		}
	}
	return h
}

// encodeEvent splits e into what the outbox and dead-letter tables store: the data
// bytes, and every attribute but id, source, type and subject as a JSON object of
// strings (the canonical string form of each CloudEvents type). The attributes are
// returned as text for their jsonb column: in pgx's exec mode (behind PgBouncer) a []byte
// parameter would be sent as bytea.
func encodeEvent(e cloudevents.Event) (payload []byte, attributes string, err error) {
	attrs := map[string]string{"specversion": e.SpecVersion()}
	if v := e.DataContentType(); v != "" {
		attrs["datacontenttype"] = v
	}
	if v := e.DataSchema(); v != "" {
		attrs["dataschema"] = v
	}
	if t := e.Time(); !t.IsZero() {
		attrs["time"] = types.FormatTime(t)
	}
	for k, v := range e.Extensions() {
		s, err := types.Format(v)
		if err != nil {
			return nil, "", fmt.Errorf("encode extension %s of event %s: %w", k, e.ID(), err)
		}
		attrs[k] = s
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return nil, "", fmt.Errorf("encode attributes of event %s: %w", e.ID(), err)
	}
	return e.Data(), string(b), nil
}

// decodeEvent is the inverse of encodeEvent.
func decodeEvent(id, source, typ string, subject *string, payload, attributes []byte) (cloudevents.Event, error) {
	var attrs map[string]string
	if len(attributes) > 0 {
		if err := json.Unmarshal(attributes, &attrs); err != nil {
			return cloudevents.Event{}, fmt.Errorf("decode attributes of event %s: %w", id, err)
		}
	}
	spec := attrs["specversion"]
	if spec == "" {
		spec = event.CloudEventsVersionV1
	}
	e := cloudevents.NewEvent(spec)
	e.SetID(id)
	e.SetSource(source)
	e.SetType(typ)
	if subject != nil {
		e.SetSubject(*subject)
	}
	for k, v := range attrs {
		switch k {
		case "specversion":
		case "datacontenttype":
			e.SetDataContentType(v)
		case "dataschema":
			e.SetDataSchema(v)
		case "time":
			t, err := types.ParseTime(v)
			if err != nil {
				return cloudevents.Event{}, fmt.Errorf("decode time of event %s: %w", id, err)
			}
			e.SetTime(t)
		default:
			e.SetExtension(strings.ToLower(k), v)
		}
	}
	if len(payload) > 0 {
		e.DataEncoded = payload
	}
	return e, nil
}
