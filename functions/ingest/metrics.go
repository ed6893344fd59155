package ingest

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics of the ingest. sqal_sensor_samples (exported as sqal_sensor_samples_total)
// and websocket_connections_active are the names the shipped monitoring rules query
// (contract §8). The station's view of latency is ingest_sample_reply_duration (frame
// read to reply written, what a station waits for its ack); the store's, the commit
// duration and size of each group.
type metrics struct {
	samples  metric.Int64Counter
	active   metric.Int64UpDownCounter
	rejected metric.Int64Counter
	endpoint metric.MeasurementOption

	reply      metric.Float64Histogram
	commit     metric.Float64Histogram
	groupSize  metric.Int64Histogram
	replyAttrs map[string]metric.MeasurementOption // by reply status
	commitOK   metric.MeasurementOption
	commitErr  metric.MeasurementOption
}

// latencyBuckets (seconds) resolve the ack latency target (p99 < 15 ms at 200 samples/s).
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Reply statuses of ingest_sample_reply_duration.
const (
	replySaved     = "saved"
	replyDuplicate = "duplicate"
	replyError     = "error"
)

func newMetrics(m metric.Meter) (*metrics, error) {
	if m == nil {
		m = noop.NewMeterProvider().Meter("ingest")
	}
	var x metrics
	var err error
	if x.samples, err = m.Int64Counter("sqal_sensor_samples",
		metric.WithDescription("Samples stored (duplicates excluded).")); err != nil {
		return nil, err
	}
	if x.active, err = m.Int64UpDownCounter("websocket_connections_active",
		metric.WithDescription("Open WebSocket connections.")); err != nil {
		return nil, err
	}
	if x.rejected, err = m.Int64Counter("ingest_samples_rate_limited",
		metric.WithDescription("Samples refused by the per-device rate limit.")); err != nil {
		return nil, err
	}
	if x.reply, err = m.Float64Histogram("ingest_sample_reply_duration", metric.WithUnit("s"),
		metric.WithDescription("WebSocket sample frames: time from the frame read to its reply written, by status (saved, duplicate, error)."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		return nil, err
	}
	if x.commit, err = m.Float64Histogram("ingest_store_commit_duration", metric.WithUnit("s"),
		metric.WithDescription("One group commit (samples, outbox events and devices in one transaction), by outcome."),
		metric.WithExplicitBucketBoundaries(latencyBuckets...)); err != nil {
		return nil, err
	}
	if x.groupSize, err = m.Int64Histogram("ingest_store_group_size",
		metric.WithDescription("Samples committed together by one group commit."),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64)); err != nil {
		return nil, err
	}
	x.endpoint = metric.WithAttributes(attribute.String("endpoint", "/ws/sensors/"))
	x.replyAttrs = map[string]metric.MeasurementOption{}
	for _, st := range []string{replySaved, replyDuplicate, replyError} {
		x.replyAttrs[st] = metric.WithAttributes(attribute.String("status", st))
	}
	x.commitOK = metric.WithAttributes(attribute.String("outcome", "ok"))
	x.commitErr = metric.WithAttributes(attribute.String("outcome", "error"))
	return &x, nil
}

// replied records a sample frame's reply, read at received.
func (m *metrics) replied(status string, received time.Time) {
	m.reply.Record(context.Background(), time.Since(received).Seconds(), m.replyAttrs[status])
}

// committed records one group commit of n samples that took d.
func (m *metrics) committed(n int, d time.Duration, err error) {
	ctx := context.Background()
	outcome := m.commitOK
	if err != nil {
		outcome = m.commitErr
	}
	m.commit.Record(ctx, d.Seconds(), outcome)
	m.groupSize.Record(ctx, int64(n))
}

func (m *metrics) connected(ctx context.Context, d int64) { m.active.Add(ctx, d, m.endpoint) }
func (m *metrics) stored(n int) {
	if n > 0 {
		m.samples.Add(context.Background(), int64(n))
	}
}
func (m *metrics) limited(ctx context.Context) { m.rejected.Add(ctx, 1) }
