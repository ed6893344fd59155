package analysisapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkReads measures the dashboard's polled reads on benchRows samples spread
// over 30 days, without a cache (every request hits PostgreSQL).
//
//	go test -run XXX -bench Reads ./functions/analysis-api
func BenchmarkReads(b *testing.B) {
	const benchRows = 100_000
	e := newEnvTB(b)
	if _, err := e.db.Exec(context.Background(), `INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_grade, fusion_final_score)
SELECT $1::timestamptz - (i * interval '26 seconds'), 'ESP32_LL_0' || (i % 3), 'B' || i,
       (ARRAY['A+','A','B','C','REJECT'])[1 + i % 5], (i % 1000) / 1000.0
FROM generate_series(1, $2::int) AS i`, t0, benchRows); err != nil {
		b.Fatal(err)
	}
	if _, err := e.db.Exec(context.Background(), `ANALYZE sensor_samples`); err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{
		"/api/analysis/history/?page=1&page_size=20",
		"/api/analysis/history/?page=50&page_size=20&grade=A%2B",
		"/api/analysis/history/?limit=10",
		"/api/analysis/stats/",
		"/api/analysis/stats/?start_date=2026-11-20T10:30:00Z&end_date=2026-11-27T09:15:00Z",
		"/api/dashboard/metrics/",
		"/api/dashboard/foie-gras-metrics/",
	} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
				}
			}
		})
	}
}
