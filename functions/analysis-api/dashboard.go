package analysisapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/quality"
)

// The /api/dashboard/* paths are the former target's homes of the SQAL dashboard's
// metrics (backend-new §1.2 D1–D4, §2.15). The dashboard now reads them from
// /api/sqal/dashboard/overview; both compute through shared/quality so they agree.

// dashboardMetrics serves GET /api/dashboard/metrics/: the counters under the legacy
// and the camelCase keys. The windows slide with the clock, hence the short TTL.
func (s *Server) dashboardMetrics(w http.ResponseWriter, r *http.Request) {
	body, err := s.cache.JSON(r.Context(), "dashboard-metrics", "", s.cfg.LiveCacheTTL, func(ctx context.Context) (any, error) {
		now := s.now()
		c, err := quality.LoadCounters(ctx, s.db, now)
		if err != nil {
			return nil, err
		}
		return quality.NewMetrics(c, now), nil
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	writeRaw(w, body)
}

// foieGrasMetrics serves GET /api/dashboard/foie-gras-metrics/: the twelve blocks of
// the dashboard's metrics panel (sqal-contract §6.3).
func (s *Server) foieGrasMetrics(w http.ResponseWriter, r *http.Request) {
	body, err := s.cache.JSON(r.Context(), "foie-gras-metrics", "", s.cfg.LiveCacheTTL, func(ctx context.Context) (any, error) {
		window, cadence, err := quality.LoadWindow(ctx, s.db, s.now())
		if err != nil {
			return nil, err
		}
		return quality.Compute(window, cadence), nil
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	writeRaw(w, body)
}

// foieGrasAlert is one item of GET /api/dashboard/foie-gras-alerts/ (§2.14).
type foieGrasAlert struct {
	ID        string            `json:"id"`
	Type      string            `json:"type"`
	Severity  string            `json:"severity"`
	Message   string            `json:"message"`
	Timestamp httpapi.Timestamp `json:"timestamp"`
	SampleID  string            `json:"sample_id"`
}

// foieGrasAlerts serves GET /api/dashboard/foie-gras-alerts/: one alert per C or
// REJECT sample among the newest 100, newest first (a bare array).
func (s *Server) foieGrasAlerts(w http.ResponseWriter, r *http.Request) {
	body, err := s.cache.JSON(r.Context(), "foie-gras-alerts", "", s.cfg.StatsCacheTTL, func(ctx context.Context) (any, error) {
		return queryList(ctx, s, `SELECT sample_id, "timestamp", fusion_final_grade FROM (
  SELECT sample_id, "timestamp", fusion_final_grade FROM sensor_samples
  ORDER BY "timestamp" DESC, sample_id DESC LIMIT $1
) newest WHERE fusion_final_grade IN ('C', 'REJECT') ORDER BY "timestamp" DESC, sample_id DESC`,
			[]any{quality.WindowSize}, func(row pgx.Row) (foieGrasAlert, error) {
				var a foieGrasAlert
				var ts time.Time
				var grade string
				err := row.Scan(&a.SampleID, &ts, &grade)
				a.ID, a.Type, a.Timestamp = a.SampleID, "quality", httpapi.Timestamp(ts)
				a.Severity = "medium"
				if grade == "REJECT" {
					a.Severity = "high"
				}
				a.Message = fmt.Sprintf("Échantillon %s détecté", grade)
				return a, err
			})
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	writeRaw(w, body)
}
