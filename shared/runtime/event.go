package runtime

import (
	"context"
	"log/slog"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// EventHTTPHandler serves a CloudEvent handler over HTTP, binary (ce-* headers) and
// structured (application/cloudevents+json) modes, with the status codes Knative acts
// on: 200 when h returns nil, 400 for a malformed event or an events.Permanent error
// (not retried: dead-letter sink), 500 for any other error (retried).
//
// The trace continues from the traceparent HTTP header (the server span, extracted
// by the runtime middleware) or, when the event arrived without it (structured mode,
// a relay), from the event's traceparent extension.
//
// sdk-go's client.NewHTTPReceiveHandler is not used: its receiver hands a request's
// message to whichever goroutine is waiting, so under concurrency a handler can run
// with another request's context (trace, deadline). Decoding the request directly
// with cehttp.NewEventFromHTTPRequest keeps each event on its own request.
func EventHTTPHandler(h EventHandler, tracer trace.Tracer, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.RecordRoute(r.Context(), "cloudevent")
		if r.Method != http.MethodPost {
			httpapi.MethodNotAllowed(w, http.MethodPost)
			return
		}
		if cehttp.IsHTTPBatch(r.Header) {
			httpapi.Detail(w, http.StatusBadRequest, "batched CloudEvents are not supported")
			return
		}
		ev, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			httpapi.Detail(w, http.StatusBadRequest, "not a CloudEvent: "+err.Error())
			return
		}
		if err := ev.Validate(); err != nil {
			httpapi.Detail(w, http.StatusBadRequest, "invalid CloudEvent: "+err.Error())
			return
		}
		ctx, span := startEventSpan(r.Context(), tracer, *ev)
		defer span.End()
		err = h(ctx, *ev)
		switch {
		case err == nil:
			w.WriteHeader(http.StatusOK)
		case events.IsPermanent(err):
			span.RecordError(err)
			logger.WarnContext(ctx, "event rejected", "ce_id", ev.ID(), "ce_source", ev.Source(), "ce_type", ev.Type(), "error", err)
			httpapi.Detail(w, http.StatusBadRequest, err.Error())
		default:
			span.RecordError(err)
			logger.ErrorContext(ctx, "event failed, will be retried", "ce_id", ev.ID(), "ce_source", ev.Source(), "ce_type", ev.Type(), "error", err)
			httpapi.Detail(w, http.StatusInternalServerError, err.Error())
		}
	})
}

// startEventSpan starts the consumer span of one event: a child of the HTTP server
// span when the traceparent header carried the producer's trace, otherwise a child of
// the event's traceparent extension, linked to the HTTP span.
func startEventSpan(ctx context.Context, tracer trace.Tracer, ev cloudevents.Event) (context.Context, trace.Span) {
	attrs := trace.WithAttributes(attribute.String("cloudevents.event_id", ev.ID()),
		attribute.String("cloudevents.event_source", ev.Source()), attribute.String("cloudevents.event_type", ev.Type()))
	name := "process " + ev.Type()
	cur := trace.SpanContextFromContext(ctx)
	extSC := trace.SpanContextFromContext(events.ContextWithTrace(context.Background(), ev))
	if extSC.IsValid() && extSC.TraceID() != cur.TraceID() {
		opts := []trace.SpanStartOption{attrs, trace.WithSpanKind(trace.SpanKindConsumer)}
		if cur.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: cur}))
		}
		return tracer.Start(trace.ContextWithRemoteSpanContext(ctx, extSC), name, opts...)
	}
	return tracer.Start(ctx, name, attrs, trace.WithSpanKind(trace.SpanKindConsumer))
}

// cloudEventResult maps a handler error for functions-framework's CloudEvent
// dispatcher: permanent failures become 400 results (no retry), others stay errors (500).
func cloudEventResult(err error) error {
	if err != nil && events.IsPermanent(err) {
		return cehttp.NewResult(http.StatusBadRequest, "%s", err.Error())
	}
	return err
}
