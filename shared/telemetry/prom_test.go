package telemetry

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sqalfn/sqal/shared/config"
)

// wantAppMetrics is what go.opentelemetry.io/otel/exporters/prometheus v0.69 with
// client_golang v1.25 served for the instruments of TestMetricsTextFormat (captured
// before the switch): names, suffixes, HELP/TYPE lines, label escaping and order,
// number formatting and target_info must stay the same for the scrape contract.
const wantAppMetrics = `
# HELP db_pool_acquire_duration_seconds_total Total time.
# TYPE db_pool_acquire_duration_seconds_total counter
db_pool_acquire_duration_seconds_total 0.25
# HELP db_pool_acquire_total 
# TYPE db_pool_acquire_total counter
db_pool_acquire_total 7
# HELP db_pool_size Open connections.
# TYPE db_pool_size gauge
db_pool_size 4
# HELP http_request_duration_seconds Duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method="GET",le="0.005"} 0
http_request_duration_seconds_bucket{method="GET",le="0.01"} 1
http_request_duration_seconds_bucket{method="GET",le="0.1"} 1
http_request_duration_seconds_bucket{method="GET",le="1"} 2
http_request_duration_seconds_bucket{method="GET",le="+Inf"} 3
http_request_duration_seconds_sum{method="GET"} 3.507
http_request_duration_seconds_count{method="GET"} 3
# HELP http_requests_total HTTP requests "served"\nby path.
# TYPE http_requests_total counter
http_requests_total{endpoint="/api/\"y\"\\z\n",method="POST",status_code="500"} 1
http_requests_total{endpoint="/api/x",method="GET",status_code="200"} 3
# HELP some_gauge_x_bytes 
# TYPE some_gauge_x_bytes gauge
some_gauge_x_bytes{f="0.5",ok="true",s="[\"a\",\"b\"]"} 1.5e+09
# HELP target_info Target metadata
# TYPE target_info gauge
target_info{service_name="ingest",service_version="ingest-0001"} 1
# HELP websocket_connections_active Open sockets.
# TYPE websocket_connections_active gauge
websocket_connections_active{endpoint="/ws/sensors/"} 2
`

func scrape(t *testing.T, tel *Telemetry, acceptEncoding string) (string, *httptest.ResponseRecorder) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	tel.MetricsHandler().ServeHTTP(rec, req)
	var body io.Reader = rec.Body
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), rec
}

func TestMetricsTextFormat(t *testing.T) {
	tel, err := Setup(context.Background(), config.Telemetry{}, Service{Name: "ingest", Revision: "ingest-0001"}, NewLogger(io.Discard, slog.LevelInfo, "ingest"))
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	ctx := context.Background()
	m := tel.MeterProvider.Meter("github.com/sqalfn/sqal/shared/runtime")
	c, _ := m.Int64Counter("http_requests", metric.WithDescription("HTTP requests \"served\"\nby path."))
	c.Add(ctx, 3, metric.WithAttributes(attribute.String("method", "GET"), attribute.String("endpoint", "/api/x"), attribute.Int("status_code", 200)))
	c.Add(ctx, 1, metric.WithAttributes(attribute.String("method", "POST"), attribute.String("endpoint", "/api/\"y\"\\z\n"), attribute.Int("status_code", 500)))
	h, _ := m.Float64Histogram("http_request_duration", metric.WithUnit("s"), metric.WithDescription("Duration."), metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.1, 1))
	for _, v := range []float64{0.007, 0.5, 3} {
		h.Record(ctx, v, metric.WithAttributes(attribute.String("method", "GET")))
	}
	u, _ := m.Int64UpDownCounter("websocket_connections_active", metric.WithDescription("Open sockets."))
	u.Add(ctx, 2, metric.WithAttributes(attribute.String("endpoint", "/ws/sensors/")))
	m2 := tel.MeterProvider.Meter("other")
	g, _ := m2.Int64ObservableGauge("db_pool_size", metric.WithDescription("Open connections."))
	oc, _ := m2.Float64ObservableCounter("db_pool_acquire_duration", metric.WithUnit("s"), metric.WithDescription("Total time."))
	oc2, _ := m2.Int64ObservableCounter("db_pool_acquire")
	if _, err := m2.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, 4)
		o.ObserveFloat64(oc, 0.25)
		o.ObserveInt64(oc2, 7)
		return nil
	}, g, oc, oc2); err != nil {
		t.Fatal(err)
	}
	fg, _ := m2.Float64Gauge("some.gauge-x", metric.WithUnit("By"))
	fg.Record(ctx, 1.5e9, metric.WithAttributes(attribute.Bool("ok", true), attribute.Float64("f", 0.5), attribute.StringSlice("s", []string{"a", "b"})))

	for _, enc := range []string{"", "gzip, deflate"} {
		body, rec := scrape(t, tel, enc)
		if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8; escaping=underscores" {
			t.Errorf("Content-Type %q", ct)
		}
		if got := rec.Header().Get("Content-Encoding"); (enc != "") != (got == "gzip") {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", enc, got)
		}
		var app []string
		for line := range strings.Lines(body) {
			if !strings.HasPrefix(line, "go_") && !strings.HasPrefix(line, "process_") &&
				!strings.HasPrefix(line, "# HELP go_") && !strings.HasPrefix(line, "# TYPE go_") &&
				!strings.HasPrefix(line, "# HELP process_") && !strings.HasPrefix(line, "# TYPE process_") {
				app = append(app, line)
			}
		}
		if got := strings.Join(app, ""); got != strings.TrimPrefix(wantAppMetrics, "\n") {
			t.Errorf("application metrics:\n%s\nwant:\n%s", got, wantAppMetrics)
		}
	}
}

// TestRuntimeMetrics checks the go_* and process_* families of the Prometheus
// client library's default collectors are all there, typed and well formed.
func TestRuntimeMetrics(t *testing.T) {
	tel, err := Setup(context.Background(), config.Telemetry{}, Service{Name: "x"}, NewLogger(io.Discard, slog.LevelInfo, "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	body, _ := scrape(t, tel, "")
	types := map[string]string{}
	values := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(f, " ")
			types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok || value == "" {
			t.Errorf("malformed line %q", line)
		}
		values[series] = value
	}
	want := map[string]string{
		"go_gc_duration_seconds": "summary", "go_gc_gogc_percent": "gauge", "go_gc_gomemlimit_bytes": "gauge",
		"go_goroutines": "gauge", "go_info": "gauge", "go_memstats_alloc_bytes": "gauge",
		"go_memstats_alloc_bytes_total": "counter", "go_memstats_buck_hash_sys_bytes": "gauge",
		"go_memstats_frees_total": "counter", "go_memstats_gc_sys_bytes": "gauge", "go_memstats_heap_alloc_bytes": "gauge",
		"go_memstats_heap_idle_bytes": "gauge", "go_memstats_heap_inuse_bytes": "gauge", "go_memstats_heap_objects": "gauge",
		"go_memstats_heap_released_bytes": "gauge", "go_memstats_heap_sys_bytes": "gauge",
		"go_memstats_last_gc_time_seconds": "gauge", "go_memstats_mallocs_total": "counter",
		"go_memstats_mcache_inuse_bytes": "gauge", "go_memstats_mcache_sys_bytes": "gauge",
		"go_memstats_mspan_inuse_bytes": "gauge", "go_memstats_mspan_sys_bytes": "gauge", "go_memstats_next_gc_bytes": "gauge",
		"go_memstats_other_sys_bytes": "gauge", "go_memstats_stack_inuse_bytes": "gauge", "go_memstats_stack_sys_bytes": "gauge",
		"go_memstats_sys_bytes": "gauge", "go_sched_gomaxprocs_threads": "gauge", "go_threads": "gauge",
		"process_cpu_seconds_total": "counter", "process_max_fds": "gauge", "process_network_receive_bytes_total": "counter",
		"process_network_transmit_bytes_total": "counter", "process_open_fds": "gauge", "process_resident_memory_bytes": "gauge",
		"process_start_time_seconds": "gauge", "process_virtual_memory_bytes": "gauge", "process_virtual_memory_max_bytes": "gauge",
		"target_info": "gauge",
	}
	for name, typ := range want {
		if types[name] != typ {
			t.Errorf("%s: TYPE %q, want %q", name, types[name], typ)
		}
	}
	for _, s := range []string{`go_gc_duration_seconds{quantile="0.5"}`, "go_gc_duration_seconds_count", "process_resident_memory_bytes",
		"go_goroutines", `target_info{service_name="x",service_version=""}`} {
		if values[s] == "" {
			t.Errorf("no sample %s", s)
		}
	}
	if v := values["process_resident_memory_bytes"]; v == "0" {
		t.Errorf("process_resident_memory_bytes = 0")
	}
}
