package runtime

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/telemetry"
)

// RequestIDHeader is read from requests (when sane) and always set on responses.
const RequestIDHeader = "X-Request-ID"

// durationBuckets are bn's http_request_duration_seconds buckets.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Middleware returns the runtime's request middleware for service, outermost first:
// request id, OpenTelemetry server span (W3C traceparent extracted), request metrics
// and debug access log, panic recovery (500 JSON; the process survives). Auth is not
// included: Handler adds it for HTTP functions.
func Middleware(env *Env) (func(http.Handler) http.Handler, error) {
	requests, err := env.Meter.Int64Counter("http_requests",
		metric.WithDescription("HTTP requests by method, route template and status code."))
	if err != nil {
		return nil, fmt.Errorf("create request counter: %w", err)
	}
	duration, err := env.Meter.Float64Histogram("http_request_duration", metric.WithUnit("s"),
		metric.WithDescription("HTTP request duration by method and route template."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("create duration histogram: %w", err)
	}
	svc := attribute.String("service", env.Service)
	logger := env.Logger
	return func(next http.Handler) http.Handler {
		inner := recoverPanics(logger, next)
		measured := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ctx, route := httpapi.WithRouteSlot(r.Context())
			sw := &statusWriter{ResponseWriter: w}
			inner.ServeHTTP(sw, r.WithContext(ctx))
			endpoint := route()
			if endpoint == "" {
				endpoint = r.Pattern
			}
			if endpoint == "" {
				endpoint = "unmatched" // bounded label: never the raw path
			}
			code := sw.status()
			elapsed := time.Since(start)
			span := trace.SpanFromContext(r.Context())
			span.SetName(r.Method + " " + endpoint)
			span.SetAttributes(attribute.String("http.route", endpoint))
			requests.Add(r.Context(), 1, metric.WithAttributes(svc, attribute.String("method", r.Method),
				attribute.String("endpoint", endpoint), attribute.String("status_code", fmt.Sprint(code))))
			duration.Record(r.Context(), elapsed.Seconds(), metric.WithAttributes(svc, attribute.String("method", r.Method),
				attribute.String("endpoint", endpoint)))
			if logger.Enabled(r.Context(), slog.LevelDebug) {
				logger.DebugContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path, "route", endpoint,
					"status", code, "bytes", sw.bytes, "duration_ms", float64(elapsed.Microseconds())/1000, "remote", r.RemoteAddr)
			}
		})
		traced := otelhttp.NewHandler(measured, env.Service,
			// The runtime records its own request metrics under the contract's names.
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelhttp.WithTracerProvider(env.Telemetry.TracerProvider),
		)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(RequestIDHeader)
			if !validRequestID(id) {
				id = uuid.NewString()
			}
			w.Header().Set(RequestIDHeader, id)
			ctx := telemetry.WithRequestID(r.Context(), id)
			traced.ServeHTTP(w, r.WithContext(ctx))
		})
	}, nil
}

// validRequestID accepts ids a client or proxy made up, within reason (they end up in
// logs and response headers).
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// recoverPanics turns a handler panic into a logged 500 {"detail":"Internal Server
// Error"}; the process and the other requests carry on. http.ErrAbortHandler keeps
// its meaning (abort the response silently).
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			logger.ErrorContext(r.Context(), "handler panicked", "panic", fmt.Sprint(p), "path", r.URL.Path,
				"stack", string(debug.Stack()))
			trace.SpanFromContext(r.Context()).RecordError(fmt.Errorf("panic: %v", p))
			if sw, ok := w.(*statusWriter); ok && sw.code != 0 {
				return // headers already sent: nothing sensible left to write
			}
			httpapi.Detail(w, http.StatusInternalServerError, "Internal Server Error")
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status and size of a response; it keeps Flush, Hijack and
// Unwrap reachable (SSE, WebSocket upgrades, http.ResponseController).
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if s.code == 0 {
		s.code = http.StatusSwitchingProtocols
	}
	// The controller finds a Hijacker through wrappers that only offer Unwrap.
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
