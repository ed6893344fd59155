package ingest

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/testenv"
)

// A stored sample and its resend are measured: reply latency by status, one commit per
// sample (they are sent one after the other), each of one sample.
func TestReplyAndCommitMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	h := newHarness(t, testenv.DB(t), nil, func(d *Deps) { d.Meter = mp.Meter("ingest") })
	ws := h.dial(t, "/ws/sensors/", nil)
	minimal := fixtures.Load(t, fixtures.Minimal)
	for _, want := range []string{"saved", "duplicate"} {
		if m := ws.roundTrip(minimal); m["status"] != want {
			t.Fatalf("ack %v, want %s", m, want)
		}
	}
	ws.roundTrip([]byte(`{"type":"ping"}`)) // not a sample: not measured

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{} // metric name + attribute value -> observations
	var sizes []int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					for _, kv := range dp.Attributes.ToSlice() {
						counts[m.Name+" "+string(kv.Key)+"="+kv.Value.Emit()] += dp.Count
					}
					if v, ok := dp.Min.Value(); dp.Count > 0 && (!ok || v <= 0) {
						t.Errorf("%s: minimum duration %v (%v)", m.Name, v, ok)
					}
				}
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					if m.Name == "ingest_store_group_size" {
						sizes = append(sizes, dp.Sum, int64(dp.Count))
					}
				}
			}
		}
	}
	want := map[string]uint64{
		"ingest_sample_reply_duration status=saved":     1,
		"ingest_sample_reply_duration status=duplicate": 1,
		"ingest_store_commit_duration outcome=ok":       2,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: %d observations, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
	if counts["ingest_sample_reply_duration status=error"] != 0 {
		t.Errorf("error replies measured: %v", counts)
	}
	if len(sizes) != 2 || sizes[0] != 2 || sizes[1] != 2 {
		t.Errorf("group sizes: sum, count = %v, want 2, 2", sizes)
	}
}
