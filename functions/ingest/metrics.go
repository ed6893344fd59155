package ingest

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics of the ingest. sqal_sensor_samples (exported as sqal_sensor_samples_total)
// and websocket_connections_active are the names the shipped monitoring rules query
// (contract §8).
type metrics struct {
	samples  metric.Int64Counter
	active   metric.Int64UpDownCounter
	rejected metric.Int64Counter
	endpoint metric.MeasurementOption
}

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
	x.endpoint = metric.WithAttributes(attribute.String("endpoint", "/ws/sensors/"))
	return &x, nil
}

func (m *metrics) connected(ctx context.Context, d int64) { m.active.Add(ctx, d, m.endpoint) }
func (m *metrics) stored(n int) {
	if n > 0 {
		m.samples.Add(context.Background(), int64(n))
	}
}
func (m *metrics) limited(ctx context.Context) { m.rejected.Add(ctx, 1) }
