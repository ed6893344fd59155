package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sqalfn/sqal/shared/config"
)

func TestLoggerAddsContextIDs(t *testing.T) {
	var buf bytes.Buffer
	logger := NewLogger(&buf, slog.LevelInfo, "sqal-api")
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	ctx = WithRequestID(ctx, "req-1")
	logger.InfoContext(ctx, "hello", "k", 1)
	logger.DebugContext(ctx, "hidden")
	logger.With("a", "b").WithGroup("g").InfoContext(context.Background(), "plain", "x", 2)
	span.End()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"service": "sqal-api", "msg": "hello", "trace_id": span.SpanContext().TraceID().String(),
		"span_id": span.SpanContext().SpanID().String(), "request_id": "req-1"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %v, want %v", k, first[k], v)
		}
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("ids without a span: %s", lines[1])
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "WARN": slog.LevelWarn, "error": slog.LevelError, "": slog.LevelInfo, "loud": slog.LevelInfo} {
		if got := ParseLevel(in); got != want {
			t.Errorf("ParseLevel(%q) = %v", in, got)
		}
	}
}

func TestSetupWithoutEndpointIsNoopTracing(t *testing.T) {
	var buf bytes.Buffer
	tel, err := Setup(context.Background(), config.Telemetry{}, Service{Name: "x"}, NewLogger(&buf, slog.LevelInfo, "x"))
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "op")
	if span.SpanContext().IsValid() {
		t.Error("spans recorded without an OTLP endpoint")
	}
	c, _ := tel.MeterProvider.Meter("t").Int64Counter("widgets")
	c.Add(context.Background(), 3)
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "widgets_total 3") {
		t.Errorf("metrics:\n%s", rec.Body)
	}
	if err := tel.Shutdown(context.Background()); err != nil || !strings.Contains(buf.String(), "telemetry flushed") {
		t.Errorf("shutdown: %v %s", err, buf.String())
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Errorf("second shutdown: %v", err)
	}
}
