// Package telemetry sets up the three signals of a function: JSON logs (slog) that
// carry the trace, span and request ids of their context; OpenTelemetry metrics
// served in the Prometheus text format from the process's own meter provider, with
// the Go runtime and process metrics (/metrics, prom.go); and OpenTelemetry traces
// exported over OTLP/HTTP when an endpoint is configured (no-op otherwise, otlp.go),
// with the W3C trace-context propagator.
package telemetry

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// ParseLevel maps LOG_LEVEL (debug, info, warn, error; any case) to a slog level;
// unknown values mean info.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// NewLogger returns a JSON logger on w at level that adds trace_id, span_id and
// request_id from each record's context, and a "service" attribute when set.
func NewLogger(w io.Writer, level slog.Level, service string) *slog.Logger {
	h := NewContextHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	l := slog.New(h)
	if service != "" {
		l = l.With("service", service)
	}
	return l
}

// ContextHandler decorates a slog.Handler with the ids found in the record's context,
// so any log call made with a request context can be joined to its trace.
type ContextHandler struct{ slog.Handler }

// NewContextHandler wraps h.
func NewContextHandler(h slog.Handler) *ContextHandler { return &ContextHandler{Handler: h} }

// Handle implements slog.Handler.
func (h *ContextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
		if id := RequestID(ctx); id != "" {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *ContextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &ContextHandler{Handler: h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h *ContextHandler) WithGroup(name string) slog.Handler {
	return &ContextHandler{Handler: h.Handler.WithGroup(name)}
}

type requestIDKey struct{}

// WithRequestID stores the request id (X-Request-ID) in ctx for logs.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id stored by WithRequestID, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
