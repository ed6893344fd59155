package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sqalfn/sqal/shared/config"
)

// Service identifies the process in metrics and traces.
type Service struct {
	Name     string // K_SERVICE
	Revision string // K_REVISION
}

// Telemetry owns the process's meter and tracer providers and the metric reader
// behind /metrics.
type Telemetry struct {
	Logger         *slog.Logger
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider

	metrics *promText

	shutdownOnce sync.Once
	shutdownErr  error
	flushers     []func(context.Context) error
}

// Setup builds the providers from cfg, installs them (and the W3C trace-context +
// baggage propagator) as the OpenTelemetry globals, and makes logger the slog default.
// Call Shutdown before exit to flush spans.
func Setup(ctx context.Context, cfg config.Telemetry, svc Service, logger *slog.Logger) (*Telemetry, error) {
	res := resource.NewSchemaless(
		attribute.String("service.name", svc.Name),
		attribute.String("service.version", svc.Revision),
	)
	t := &Telemetry{Logger: logger}

	// /metrics shows exactly this process's series (the meter provider's, under the
	// names the OpenTelemetry Prometheus exporter gave them), plus the Go runtime
	// and process metrics the legacy scrape had. See prom.go.
	reader := sdkmetric.NewManualReader()
	t.metrics = newPromText(reader)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))
	t.MeterProvider = mp
	t.flushers = append(t.flushers, mp.Shutdown)

	if cfg.TracingEnabled() {
		// The exporter reads the standard OTEL_EXPORTER_OTLP_* variables itself
		// (endpoint, headers, timeout, compression, certificates). See otlp.go.
		te, err := newOTLPExporter(func(name string) string {
			switch {
			case name == "OTEL_EXPORTER_OTLP_ENDPOINT" && cfg.OTLPEndpoint != "":
				return cfg.OTLPEndpoint
			case name == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" && cfg.OTLPTracesEndpoint != "":
				return cfg.OTLPTracesEndpoint
			}
			return os.Getenv(name)
		})
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(te),
			sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
		)
		t.TracerProvider = tp
		t.flushers = append(t.flushers, tp.Shutdown)
	} else {
		t.TracerProvider = noop.NewTracerProvider()
	}

	otel.SetMeterProvider(t.MeterProvider)
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry error", "error", err)
	}))
	slog.SetDefault(logger)
	return t, nil
}

// MetricsHandler serves the metrics in the Prometheus text format (0.0.4).
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// Shutdown flushes pending spans and metrics and stops the providers. It is safe to
// call more than once; it logs "telemetry flushed" when done.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		start := time.Now()
		var errs []error
		for _, f := range t.flushers {
			if err := f(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		t.shutdownErr = errors.Join(errs...)
		if t.shutdownErr != nil {
			t.Logger.Error("telemetry flush failed", "error", t.shutdownErr)
		} else {
			t.Logger.Info("telemetry flushed", "duration_ms", time.Since(start).Milliseconds())
		}
	})
	return t.shutdownErr
}
