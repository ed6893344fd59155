package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sqalfn/sqal/shared/config"
)

// collector is an OTLP/HTTP receiver that decodes requests with the official
// generated types (the wire contract the hand-written encoder must meet).
type collector struct {
	mu       sync.Mutex
	requests []*collectorpb.ExportTraceServiceRequest
	headers  []http.Header
	paths    []string
	fail     int // answer 503 to this many requests first
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paths = append(c.paths, r.URL.Path)
	c.headers = append(c.headers, r.Header.Clone())
	if c.fail > 0 {
		c.fail--
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	var req collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	c.requests = append(c.requests, &req)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestOTLPExporterWireFormat(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	exp, err := newOTLPExporter(envMap(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    srv.URL + "/",
		"OTEL_EXPORTER_OTLP_HEADERS":     "authorization=Bearer%20abc, x-tenant = sqal",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
	}))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "ingest"), attribute.String("service.version", "ingest-0001"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	tracer := tp.Tracer("github.com/sqalfn/sqal/shared/runtime", trace.WithInstrumentationVersion("1.2.3"))

	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled, Remote: true,
	})
	linked := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}, SpanID: trace.SpanID{8, 8, 8, 8, 8, 8, 8, 8},
	})
	start := time.Unix(1_700_000_000, 123)
	ctx, span := tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), remote), "POST /api/ingest/samples",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
		trace.WithLinks(trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("why", "batch")}}),
		trace.WithAttributes(
			attribute.String("http.route", "/api/ingest/samples"), attribute.Int("http.status_code", 500),
			attribute.Float64("ratio", 0.5), attribute.Bool("ok", false), attribute.StringSlice("tags", []string{"a", "b"}),
			attribute.Int64Slice("ns", []int64{1, -2})))
	span.AddEvent("retry", trace.WithTimestamp(start.Add(time.Millisecond)), trace.WithAttributes(attribute.Int("attempt", 2)))
	span.SetStatus(codes.Error, "boom")
	_, child := tracer.Start(ctx, "store", trace.WithSpanKind(trace.SpanKindClient))
	child.End()
	span.End(trace.WithTimestamp(start.Add(time.Second)))
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.requests) != 2 {
		t.Fatalf("%d requests decoded, paths %v", len(col.requests), col.paths)
	}
	h := col.headers[0]
	if col.paths[0] != "/v1/traces" || h.Get("Authorization") != "Bearer abc" || h.Get("X-Tenant") != "sqal" || h.Get("Content-Encoding") != "gzip" {
		t.Errorf("path %q headers %v", col.paths[0], h)
	}
	// The syncer exports the child first, then the server span.
	childpb := onlySpan(t, col.requests[0])
	rs := col.requests[1].ResourceSpans[0]
	if got := attrs(rs.Resource.Attributes); got["service.name"] != "ingest" || got["service.version"] != "ingest-0001" {
		t.Errorf("resource %v", got)
	}
	ss := rs.ScopeSpans[0]
	if ss.Scope.Name != "github.com/sqalfn/sqal/shared/runtime" || ss.Scope.Version != "1.2.3" {
		t.Errorf("scope %v", ss.Scope)
	}
	sp := ss.Spans[0]
	sc := span.SpanContext()
	if hex.EncodeToString(sp.TraceId) != sc.TraceID().String() || hex.EncodeToString(sp.SpanId) != sc.SpanID().String() ||
		hex.EncodeToString(sp.ParentSpanId) != remote.SpanID().String() {
		t.Errorf("ids %x %x %x", sp.TraceId, sp.SpanId, sp.ParentSpanId)
	}
	if sp.Name != "POST /api/ingest/samples" || sp.Kind != tracepb.Span_SPAN_KIND_SERVER ||
		sp.StartTimeUnixNano != uint64(start.UnixNano()) || sp.EndTimeUnixNano != uint64(start.Add(time.Second).UnixNano()) {
		t.Errorf("span %v", sp)
	}
	if sp.Flags != 0x301 { // sampled, parent remote, "is remote" known
		t.Errorf("flags %#x", sp.Flags)
	}
	a := attrs(sp.Attributes)
	if a["http.route"] != "/api/ingest/samples" || a["http.status_code"] != int64(500) || a["ratio"] != 0.5 || a["ok"] != false ||
		a["tags"] != "[a b]" || a["ns"] != "[1 -2]" {
		t.Errorf("attributes %v", a)
	}
	if sp.Status.Code != tracepb.Status_STATUS_CODE_ERROR || sp.Status.Message != "boom" {
		t.Errorf("status %v", sp.Status)
	}
	if len(sp.Events) != 1 || sp.Events[0].Name != "retry" || sp.Events[0].TimeUnixNano != uint64(start.Add(time.Millisecond).UnixNano()) ||
		attrs(sp.Events[0].Attributes)["attempt"] != int64(2) {
		t.Errorf("events %v", sp.Events)
	}
	if len(sp.Links) != 1 || hex.EncodeToString(sp.Links[0].SpanId) != linked.SpanID().String() ||
		attrs(sp.Links[0].Attributes)["why"] != "batch" || sp.Links[0].Flags != 0x100 {
		t.Errorf("links %v", sp.Links)
	}
	if !bytes.Equal(childpb.ParentSpanId, sp.SpanId) || childpb.Kind != tracepb.Span_SPAN_KIND_CLIENT || childpb.Flags != 0x101 ||
		childpb.Status.GetCode() != tracepb.Status_STATUS_CODE_UNSET {
		t.Errorf("child %v", childpb)
	}
}

func onlySpan(t *testing.T, req *collectorpb.ExportTraceServiceRequest) *tracepb.Span {
	t.Helper()
	if len(req.ResourceSpans) != 1 || len(req.ResourceSpans[0].ScopeSpans) != 1 || len(req.ResourceSpans[0].ScopeSpans[0].Spans) != 1 {
		t.Fatalf("request %v", req)
	}
	return req.ResourceSpans[0].ScopeSpans[0].Spans[0]
}

// attrs flattens OTLP attributes; arrays become fmt-like "[a b]" strings.
func attrs(kvs []*commonpb.KeyValue) map[string]any {
	out := map[string]any{}
	var val func(v *commonpb.AnyValue) any
	val = func(v *commonpb.AnyValue) any {
		switch x := v.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			return x.StringValue
		case *commonpb.AnyValue_IntValue:
			return x.IntValue
		case *commonpb.AnyValue_DoubleValue:
			return x.DoubleValue
		case *commonpb.AnyValue_BoolValue:
			return x.BoolValue
		case *commonpb.AnyValue_ArrayValue:
			var parts []string
			for _, e := range x.ArrayValue.Values {
				parts = append(parts, fmt.Sprint(val(e)))
			}
			return "[" + strings.Join(parts, " ") + "]"
		}
		return nil
	}
	for _, kv := range kvs {
		out[kv.Key] = val(kv.Value)
	}
	return out
}

func TestOTLPExporterRetriesAndEndpoints(t *testing.T) {
	col := &collector{fail: 2}
	srv := httptest.NewServer(col)
	defer srv.Close()
	// The traces endpoint is used as is, and wins over the base endpoint.
	exp, err := newOTLPExporter(envMap(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://127.0.0.1:1",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/custom/traces",
		"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT":  "2000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if exp.timeout != 2*time.Second {
		t.Errorf("timeout %s", exp.timeout)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	_, span := tp.Tracer("t").Start(context.Background(), "op")
	span.End()
	_ = tp.Shutdown(context.Background())
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.paths) != 3 || len(col.requests) != 1 || col.paths[2] != "/custom/traces" {
		t.Errorf("paths %v, %d decoded", col.paths, len(col.requests))
	}

	for _, env := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "soon"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4318", "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"},
	} {
		if _, err := newOTLPExporter(envMap(env)); err == nil {
			t.Errorf("%v: no error", env)
		}
	}
}

func TestOTLPExporterGivesUpOnClientErrors(t *testing.T) {
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		http.Error(w, "bad", http.StatusBadRequest)
	}))
	defer srv.Close()
	exp, err := newOTLPExporter(envMap(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	_, span := tp.Tracer("t").Start(context.Background(), "op")
	span.End()
	ro := span.(sdktrace.ReadOnlySpan)
	if err := exp.ExportSpans(context.Background(), []sdktrace.ReadOnlySpan{ro}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("error %v", err)
	}
	if posts.Load() != 1 {
		t.Errorf("%d posts for a 400", posts.Load())
	}
	_ = exp.Shutdown(context.Background())
	if err := exp.ExportSpans(context.Background(), []sdktrace.ReadOnlySpan{ro}); err != nil || posts.Load() != 1 {
		t.Errorf("export after shutdown: %v, %d posts", err, posts.Load())
	}
}

// TestSetupExportsSpans runs Setup with an endpoint: spans reach the collector on Shutdown.
func TestSetupExportsSpans(t *testing.T) {
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // the configuration wins
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-key=k1")
	tel, err := Setup(context.Background(), config.Telemetry{OTLPEndpoint: srv.URL, SampleRatio: 1}, Service{Name: "relay", Revision: "relay-1"},
		NewLogger(io.Discard, slog.LevelInfo, "relay"))
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider.Tracer("t").Start(context.Background(), "tick")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.requests) != 1 || onlySpan(t, col.requests[0]).Name != "tick" || col.headers[0].Get("X-Key") != "k1" {
		t.Errorf("requests %v, headers %v", col.requests, col.headers)
	}
}
