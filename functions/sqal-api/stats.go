package sqalapi

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// grades are the five fusion grades, best first; distributions always carry all five.
var grades = []string{"A+", "A", "B", "C", "REJECT"}

// hourlyStat is HourlyStat (contract §5.2).
type hourlyStat struct {
	Bucket            stamp   `json:"bucket"`
	DeviceID          string  `json:"device_id"`
	SampleCount       int64   `json:"sample_count"`
	AvgQualityScore   float64 `json:"avg_quality_score"`
	CountAPlus        int64   `json:"count_a_plus"`
	CountA            int64   `json:"count_a"`
	CountB            int64   `json:"count_b"`
	CountC            int64   `json:"count_c"`
	CountReject       int64   `json:"count_reject"`
	AvgVolumeMM3      float64 `json:"avg_volume_mm3"`
	AvgFreshnessIndex float64 `json:"avg_freshness_index"`
	CompliancePct     float64 `json:"compliance_rate_pct"`
}

// loadHourly returns one HourlyStat per (hour, device) with samples in sp, newest hour
// first (then by device id).
func (a *API) loadHourly(ctx context.Context, sp span, deviceID *string) ([]hourlyStat, error) {
	cte, args := partsSQL(sp, partsFilter{DeviceID: deviceID})
	rows, err := a.db.Query(ctx, cte+`
SELECT bucket, device_id, sum(n)::bigint, sum(sum_score) / sum(n),
  COALESCE(sum(n) FILTER (WHERE grade = 'A+'), 0)::bigint,
  COALESCE(sum(n) FILTER (WHERE grade = 'A'), 0)::bigint,
  COALESCE(sum(n) FILTER (WHERE grade = 'B'), 0)::bigint,
  COALESCE(sum(n) FILTER (WHERE grade = 'C'), 0)::bigint,
  COALESCE(sum(n) FILTER (WHERE grade = 'REJECT'), 0)::bigint,
  COALESCE(sum(sum_volume) / NULLIF(sum(n_volume), 0), 0),
  COALESCE(sum(sum_freshness) / NULLIF(sum(n_freshness), 0), 0),
  COALESCE(sum(n) FILTER (WHERE grade <> 'REJECT'), 0)::float8 * 100 / sum(n)
FROM parts GROUP BY bucket, device_id HAVING sum(n) > 0
ORDER BY bucket DESC, device_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("hourly stats: %w", err)
	}
	out := []hourlyStat{}
	var h hourlyStat
	var bucket time.Time
	_, err = pgx.ForEachRow(rows, []any{&bucket, &h.DeviceID, &h.SampleCount, &h.AvgQualityScore,
		&h.CountAPlus, &h.CountA, &h.CountB, &h.CountC, &h.CountReject, &h.AvgVolumeMM3,
		&h.AvgFreshnessIndex, &h.CompliancePct}, func() error {
		h.Bucket = stamp(bucket)
		out = append(out, h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hourly stats: %w", err)
	}
	return out, nil
}

type hourlyResponse struct {
	Stats  []hourlyStat `json:"stats"`
	Count  int          `json:"count"`
	Period period       `json:"period"`
}

// hourlyStats is #8 GET /api/sqal/stats/hourly (default: the last 7 days).
func (a *API) hourlyStats(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	start, end := a.timeRange(p, 7*24*time.Hour)
	dev := p.Query("device_id").OptString()
	if !p.Check(w) {
		return
	}
	key := cacheKey(start, end, p, dev)
	resp, err := get(r.Context(), a.cache, "hourly", key, func(ctx context.Context) (hourlyResponse, error) {
		list, err := a.loadHourly(ctx, newSpan(start, end), dev)
		if err != nil {
			return hourlyResponse{}, err
		}
		return hourlyResponse{Stats: list, Count: len(list), Period: period{stamp(start), stamp(end)}}, nil
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, resp)
}

// gradeCounts counts samples per fusion grade in sp: the five grades always, plus any
// other grade string found.
func (a *API) gradeCounts(ctx context.Context, sp span, f partsFilter) (map[string]int64, error) {
	cte, args := partsSQL(sp, f)
	q := cte + `SELECT grade, sum(n)::bigint FROM parts GROUP BY grade`
	if f == (partsFilter{}) {
		// No device filter: the per-grade rollup has 12x fewer rows than the per-device one.
		q = `SELECT grade, sum(n)::bigint FROM (
  SELECT grade, n FROM sqal_sample_hourly_grade WHERE bucket >= $1 AND bucket < $2
  UNION ALL
  SELECT fusion_final_grade, count(*) FROM sensor_samples
  WHERE ("timestamp" >= $3 AND "timestamp" < $1) OR ("timestamp" >= $2 AND "timestamp" <= $4)
  GROUP BY 1) p
GROUP BY grade`
		args = args[:4]
	}
	rows, err := a.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("grade distribution: %w", err)
	}
	out := make(map[string]int64, len(grades))
	for _, g := range grades {
		out[g] = 0
	}
	var g string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&g, &n}, func() error { out[g] += n; return nil }); err != nil {
		return nil, fmt.Errorf("grade distribution: %w", err)
	}
	return out, nil
}

type gradeDistributionResponse struct {
	Distribution map[string]int64   `json:"distribution"`
	Total        int64              `json:"total"`
	Percentages  map[string]float64 `json:"percentages"`
	Period       period             `json:"period"`
}

// gradeDistribution is #10 GET /api/sqal/stats/grade-distribution (default: 7 days).
func (a *API) gradeDistribution(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	start, end := a.timeRange(p, 7*24*time.Hour)
	site := p.Query("site_code").OptString()
	if !p.Check(w) {
		return
	}
	resp, err := get(r.Context(), a.cache, "grades", cacheKey(start, end, p, site),
		func(ctx context.Context) (gradeDistributionResponse, error) {
			dist, err := a.gradeCounts(ctx, newSpan(start, end), partsFilter{SiteCode: site})
			if err != nil {
				return gradeDistributionResponse{}, err
			}
			resp := gradeDistributionResponse{Distribution: dist, Percentages: map[string]float64{},
				Period: period{stamp(start), stamp(end)}}
			for _, n := range dist {
				resp.Total += n
			}
			for g, n := range dist {
				resp.Percentages[g] = 0
				if resp.Total > 0 {
					resp.Percentages[g] = float64(n) / float64(resp.Total) * 100
				}
			}
			return resp, nil
		})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, resp)
}

// statsResponse is StatsResponse (contract §5.2).
type statsResponse struct {
	PeriodStart       stamp            `json:"period_start"`
	PeriodEnd         stamp            `json:"period_end"`
	TotalSamples      int64            `json:"total_samples"`
	AvgQualityScore   float64          `json:"avg_quality_score"`
	CompliancePct     float64          `json:"compliance_rate_pct"`
	GradeDistribution map[string]int64 `json:"grade_distribution"`
	TopDevices        []topDevice      `json:"top_devices"`
}

// topDevice is an item of StatsResponse.top_devices (legacy always sent []; the
// contract allows filling it).
type topDevice struct {
	DeviceID        string  `json:"device_id"`
	TotalSamples    int64   `json:"total_samples"`
	AvgQualityScore float64 `json:"avg_quality_score"`
}

// siteStats is #9 GET /api/sqal/stats/sites (default: 30 days): samples of devices
// that have a site (optionally this one).
func (a *API) siteStats(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	start, end := a.timeRange(p, 30*24*time.Hour)
	site := p.Query("site_code").OptString()
	if !p.Check(w) {
		return
	}
	resp, err := get(r.Context(), a.cache, "sites", cacheKey(start, end, p, site),
		func(ctx context.Context) (statsResponse, error) {
			return a.loadSiteStats(ctx, start, end, site)
		})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, resp)
}

func (a *API) loadSiteStats(ctx context.Context, start, end time.Time, site *string) (statsResponse, error) {
	resp := statsResponse{PeriodStart: stamp(start), PeriodEnd: stamp(end),
		GradeDistribution: map[string]int64{}, TopDevices: []topDevice{}}
	for _, g := range grades {
		resp.GradeDistribution[g] = 0
	}
	cte, args := partsSQL(newSpan(start, end), partsFilter{SiteCode: site, AnySite: true})
	rows, err := a.db.Query(ctx, cte+`SELECT device_id, grade, sum(n)::bigint, sum(sum_score) FROM parts GROUP BY 1, 2`, args...)
	if err != nil {
		return resp, fmt.Errorf("site stats: %w", err)
	}
	var (
		dev, g   string
		n        int64
		sc, sum  float64
		compl    int64
		byDevice = map[string]*topDevice{}
	)
	_, err = pgx.ForEachRow(rows, []any{&dev, &g, &n, &sc}, func() error {
		resp.TotalSamples += n
		sum += sc
		if g != "REJECT" {
			compl += n
		}
		if _, ok := resp.GradeDistribution[g]; ok {
			resp.GradeDistribution[g] += n
		}
		d := byDevice[dev]
		if d == nil {
			d = &topDevice{DeviceID: dev}
			byDevice[dev] = d
		}
		d.TotalSamples += n
		d.AvgQualityScore += sc // sum for now, divided below
		return nil
	})
	if err != nil {
		return resp, fmt.Errorf("site stats: %w", err)
	}
	if resp.TotalSamples > 0 {
		resp.AvgQualityScore = sum / float64(resp.TotalSamples)
		resp.CompliancePct = float64(compl) / float64(resp.TotalSamples) * 100
	}
	for _, d := range byDevice {
		d.AvgQualityScore /= float64(d.TotalSamples)
		resp.TopDevices = append(resp.TopDevices, *d)
	}
	// Most samples first; at most 10, as a "top" list.
	sort.Slice(resp.TopDevices, func(i, j int) bool {
		di, dj := resp.TopDevices[i], resp.TopDevices[j]
		if di.TotalSamples != dj.TotalSamples {
			return di.TotalSamples > dj.TotalSamples
		}
		return di.DeviceID < dj.DeviceID
	})
	if len(resp.TopDevices) > 10 {
		resp.TopDevices = resp.TopDevices[:10]
	}
	return resp, nil
}

// cacheKey identifies a parameterised aggregate: the resolved bounds when the caller
// gave them, "now"-relative markers otherwise (so that default requests share one key
// for the TTL instead of one key per microsecond), plus the filter.
func cacheKey(start, end time.Time, p *httpapi.ParamSet, filter *string) string {
	k := "s=" + boundKey(p.Query("start_time"), start) + "|e=" + boundKey(p.Query("end_time"), end)
	if filter != nil {
		k += "|f=" + *filter
	}
	return k
}

func boundKey(f httpapi.Field, t time.Time) string {
	if !f.Present() {
		return "default"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
