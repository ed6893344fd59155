package realtime

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics of the fan-out. websocket_connections_active is the name the shipped
// monitoring rules query (contract §8).
type metrics struct {
	drops        atomic.Int64 // total, for Server.Dropped (tests, logs)
	active       metric.Int64UpDownCounter
	droppedC     metric.Int64Counter
	sentC        metric.Int64Counter
	disconnects  metric.Int64Counter
	events       metric.Int64Counter
	endpointAttr metric.MeasurementOption
}

func newMetrics(m metric.Meter, _ *Server) (*metrics, error) {
	if m == nil {
		m = noop.NewMeterProvider().Meter("realtime")
	}
	var (
		x   metrics
		err error
	)
	if x.active, err = m.Int64UpDownCounter("websocket_connections_active",
		metric.WithDescription("Open WebSocket connections.")); err != nil {
		return nil, err
	}
	if x.droppedC, err = m.Int64Counter("realtime_messages_dropped",
		metric.WithDescription("Messages dropped from a slow client's full send queue, by message type.")); err != nil {
		return nil, err
	}
	if x.sentC, err = m.Int64Counter("realtime_messages_sent",
		metric.WithDescription("Messages written to realtime clients, by message type.")); err != nil {
		return nil, err
	}
	if x.disconnects, err = m.Int64Counter("realtime_disconnects",
		metric.WithDescription("Clients disconnected by the server, by reason (slow, write_error, invalid_frame, shutdown).")); err != nil {
		return nil, err
	}
	if x.events, err = m.Int64Counter("realtime_events",
		metric.WithDescription("CloudEvents received on /events, by type and result (published, duplicate, invalid, error).")); err != nil {
		return nil, err
	}
	x.endpointAttr = metric.WithAttributes(attribute.String("endpoint", "/ws/realtime/"))
	return &x, nil
}

func (m *metrics) connected(ctx context.Context, delta int64) {
	m.active.Add(ctx, delta, m.endpointAttr)
}

func (m *metrics) dropped(kind string) {
	m.drops.Add(1)
	m.droppedC.Add(context.Background(), 1, metric.WithAttributes(attribute.String("type", kind)))
}

func (m *metrics) sent(kind string) {
	m.sentC.Add(context.Background(), 1, metric.WithAttributes(attribute.String("type", kind)))
}

func (m *metrics) disconnected(reason string) {
	m.disconnects.Add(context.Background(), 1, metric.WithAttributes(attribute.String("reason", reason)))
}

func (m *metrics) event(ctx context.Context, typ, result string) {
	m.events.Add(ctx, 1, metric.WithAttributes(attribute.String("type", typ), attribute.String("result", result)))
}
