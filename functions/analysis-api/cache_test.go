package analysisapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/sqalfn/sqal/shared/cache"
	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/sqalread"
	"github.com/sqalfn/sqal/shared/telemetry"
	"github.com/sqalfn/sqal/shared/testenv"
)

// The local runner mounts analysis-api and sqal-api in one process, each with its own
// meter, and both read through the "sqal" cache: its counters must come out as one
// series, or the Prometheus exporter fails the whole scrape (GET /metrics was a 500).
func TestCacheMetricsOneSeriesPerProcess(t *testing.T) {
	prevMP, prevLog := otel.GetMeterProvider(), slog.Default()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tel, err := telemetry.Setup(context.Background(), config.Telemetry{}, telemetry.Service{Name: "test"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tel.Shutdown(context.Background())
		otel.SetMeterProvider(prevMP)
		slog.SetDefault(prevLog)
	})

	db, rdb := testenv.DB(t), testenv.Redis(t)
	h := New(database.NewDB(db), rdb, tel.MeterProvider.Meter("github.com/sqalfn/sqal/analysis-api"), testConfig, logger)
	// What sqal-api builds over the same Redis (its own meter, same cache name).
	other := cache.New(rdb, cache.Options{Name: sqalread.CacheName, Logger: logger})
	if _, err := cache.Get(context.Background(), other, "probe", time.Minute, func(context.Context) (int, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/analysis/stats/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/analysis/stats/: %d %s", rec.Code, rec.Body)
	}

	rec = httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	if n := strings.Count(rec.Body.String(), "\ncache_misses_total{"); n != 1 {
		t.Errorf("cache_misses_total series: %d, want 1\n%s", n, rec.Body)
	}
}
