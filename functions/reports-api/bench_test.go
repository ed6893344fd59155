package reportsapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/testenv"
)

// BenchmarkListReports measures R1 as the Reports page polls it (every 10 s per tab):
// 200 stored reports, first page of 20, stale-job sweep included.
func BenchmarkListReports(b *testing.B) {
	db := testenv.DB(b)
	s := newServer(database.NewDB(db), testConfig, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.now = func() time.Time { return t0 }
	h := s.routes()
	if _, err := db.Exec(context.Background(), `INSERT INTO reports (title, report_type, format, status, created_at)
		SELECT 'r' || i, 'quality', 'csv', 'completed', $1::timestamptz - i * interval '1 minute' FROM generate_series(1, 200) i`, t0); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/api/reports/?limit=20", nil)
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
