package analysisapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/quality"
)

// analysisStats is GET /api/analysis/stats/ (§2.5).
type analysisStats struct {
	TotalAnalyses     int64            `json:"totalAnalyses"`
	AverageQuality    float64          `json:"averageQuality"`    // 0..1, 3 decimals
	GradeDistribution map[string]int64 `json:"gradeDistribution"` // grades present in the period
	DefectRate        float64          `json:"defectRate"`        // % of C + REJECT, 2 decimals
}

// periodFilter reads the period (and device) of an aggregate; the grade is not a
// filter of aggregates.
func periodFilter(p *httpapi.ParamSet) filter {
	f := readFilter(p)
	f.Grade = ""
	return f
}

// stats serves GET /api/analysis/stats/: over the whole period (every sample when no
// dates are given), from the hourly rollup plus the partial hours at its edges.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	f := periodFilter(p)
	if !p.Check(w) {
		return
	}
	body, err := s.cache.JSON(r.Context(), "stats", f.key(), s.cfg.StatsCacheTTL, func(ctx context.Context) (any, error) {
		return s.loadStats(ctx, f)
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	writeRaw(w, body)
}

func (s *Server) loadStats(ctx context.Context, f filter) (analysisStats, error) {
	totals, err := quality.GradeTotals(ctx, s.db, f.period())
	if err != nil {
		return analysisStats{}, err
	}
	st := analysisStats{GradeDistribution: map[string]int64{}}
	all := quality.Sum(totals)
	var defects int64
	for g, t := range totals {
		st.GradeDistribution[g] = t.N
		if g == "C" || g == "REJECT" {
			defects += t.N
		}
	}
	if st.TotalAnalyses = all.N; all.N > 0 {
		st.AverageQuality = quality.Round(all.SumScore/float64(all.N), 3)
		st.DefectRate = quality.Round(float64(defects)/float64(all.N)*100, 2)
	}
	return st, nil
}

// gradeCounts counts samples per fusion grade; only grades present appear.
func (s *Server) gradeCounts(ctx context.Context, f filter) (map[string]int64, error) {
	totals, err := quality.GradeTotals(ctx, s.db, f.period())
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(totals))
	for g, t := range totals {
		out[g] = t.N
	}
	return out, nil
}

// gradeDistribution serves GET /api/analysis/grade-distribution/: {distribution}, over
// every sample unless a period or device is given.
func (s *Server) gradeDistribution(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	f := periodFilter(p)
	if !p.Check(w) {
		return
	}
	body, err := s.cache.JSON(r.Context(), "grade-distribution", f.key(), s.cfg.StatsCacheTTL, func(ctx context.Context) (any, error) {
		d, err := s.gradeCounts(ctx, f)
		return map[string]any{"distribution": d}, err
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	writeRaw(w, body)
}

type timePoint struct {
	Timestamp    httpapi.Timestamp `json:"timestamp"`
	QualityScore float64           `json:"qualityScore"`
	Grade        string            `json:"grade"`
}

// Timeseries bounds: one point per sample, so the number of points is capped.
const (
	defaultSeriesPoints = 1000
	maxSeriesPoints     = 10000
)

// timeseries serves GET /api/analysis/timeseries/: one point per sample, oldest first.
// interval is accepted and ignored, as in the former target; at most limit points (the
// newest of the period).
func (s *Server) timeseries(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	f := periodFilter(p)
	_ = p.Query("interval").String("hour")
	limit := min(max(p.Query("limit").Int(defaultSeriesPoints), 1), maxSeriesPoints)
	if !p.Check(w) {
		return
	}
	var args []any
	where := f.where(&args)
	points, err := queryList(r.Context(), s, `SELECT ts, score, grade FROM (
  SELECT "timestamp" AS ts, fusion_final_score AS score, fusion_final_grade AS grade, sample_id
  FROM sensor_samples WHERE `+where+fmt.Sprintf(` ORDER BY "timestamp" DESC, sample_id DESC LIMIT %d`, limit)+`
) newest ORDER BY ts, sample_id`, args, func(row pgx.Row) (timePoint, error) {
		var pt timePoint
		var ts time.Time
		err := row.Scan(&ts, &pt.QualityScore, &pt.Grade)
		pt.Timestamp = httpapi.Timestamp(ts)
		return pt, err
	})
	if err != nil {
		fail(w, r, fmt.Errorf("read timeseries: %w", err))
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"timeseries": points})
}

// trendMetrics maps the trends metric names onto their columns.
var trendMetrics = map[string]string{
	"quality_score": "fusion_final_score",
	"volume":        "vl53l8ch_volume_mm3",
	"freshness":     freshnessSQL,
	"height":        "vl53l8ch_avg_height_mm",
}

type trendPoint struct {
	Timestamp httpapi.Timestamp `json:"timestamp"`
	Value     float64           `json:"value"`
	Avg       float64           `json:"avg"`
	Min       float64           `json:"min"`
	Max       float64           `json:"max"`
}

// trends serves GET /api/analysis/trends/{device_id}: per-hour buckets (daily for 30 d)
// of the requested metric, oldest first; min and max are those of the metric itself
// (the former target took them from the fusion score).
func (s *Server) trends(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	deviceID := p.Path("device_id").RequiredString()
	metric := p.Query("metric").Enum("quality_score", "quality_score", "volume", "freshness", "height")
	timeRange := p.Query("time_range").String("24h")
	if !p.Check(w) {
		return
	}
	span, unit := 24*time.Hour, "hour"
	switch timeRange {
	case "1h":
		span = time.Hour
	case "7d":
		span = 7 * 24 * time.Hour
	case "30d":
		span, unit = 30*24*time.Hour, "day"
	default:
		timeRange = "24h" // unknown ranges read as 24 h, as in the former target
	}
	key := fmt.Sprintf("%q %s %s", deviceID, metric, timeRange)
	body, err := s.cache.JSON(r.Context(), "trends", key, s.cfg.LiveCacheTTL, func(ctx context.Context) (any, error) {
		col := trendMetrics[metric]
		return queryList(ctx, s, `SELECT date_trunc('`+unit+`', "timestamp", 'UTC') AS bucket,
  avg(`+col+`), min(`+col+`), max(`+col+`)
FROM sensor_samples
WHERE device_id = $1 AND "timestamp" >= $2 AND `+col+` IS NOT NULL
GROUP BY bucket ORDER BY bucket`, []any{deviceID, s.now().Add(-span)}, func(row pgx.Row) (trendPoint, error) {
			var pt trendPoint
			var ts time.Time
			err := row.Scan(&ts, &pt.Avg, &pt.Min, &pt.Max)
			pt.Timestamp = httpapi.Timestamp(ts)
			pt.Avg, pt.Min, pt.Max = quality.Round(pt.Avg, 3), quality.Round(pt.Min, 3), quality.Round(pt.Max, 3)
			pt.Value = pt.Avg
			return pt, err
		})
	})
	if err != nil {
		fail(w, r, fmt.Errorf("read trends of %s: %w", deviceID, err))
		return
	}
	writeRaw(w, body)
}

// maxCompared is the most samples compare accepts (the dashboard sends up to 5).
const maxCompared = 5

type comparedSample struct {
	SampleID  string            `json:"sample_id"`
	Timestamp httpapi.Timestamp `json:"timestamp"`
	DeviceID  string            `json:"device_id"`
	Fusion    struct {
		FinalScore float64 `json:"final_score"`
		FinalGrade string  `json:"final_grade"`
	} `json:"fusion"`
	VL53L8CH struct {
		VolumeMM3    float64 `json:"volume_mm3"`
		AvgHeightMM  float64 `json:"avg_height_mm"`
		QualityScore float64 `json:"quality_score"`
	} `json:"vl53l8ch"`
	AS7341 struct {
		QualityScore    float64 `json:"quality_score"`
		FreshnessIndex  float64 `json:"freshness_index"`
		FatQualityIndex float64 `json:"fat_quality_index"`
	} `json:"as7341"`
}

// compare serves GET /api/analysis/compare?sample_ids=a,b: the samples in the order
// requested (unknown ids are left out), numbers rounded and never null (the component
// formats every one). More than 5 ids is a 400.
func (s *Server) compare(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	raw := p.Query("sample_ids").RequiredString()
	if !p.Check(w) {
		return
	}
	var ids []string
	seen := map[string]bool{}
	for _, id := range strings.Split(raw, ",") {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) > maxCompared {
		detail(w, http.StatusBadRequest, "Maximum 5 samples for comparison")
		return
	}
	found, err := queryList(r.Context(), s, `SELECT sample_id, "timestamp", device_id, fusion_final_score, fusion_final_grade,
  COALESCE(vl53l8ch_volume_mm3, 0), COALESCE(vl53l8ch_avg_height_mm, 0), COALESCE(vl53l8ch_quality_score, 0),
  COALESCE(as7341_quality_score, 0), COALESCE(`+freshnessSQL+`, 0), COALESCE(as7341_fat_quality_index, 0)
FROM sensor_samples WHERE sample_id = ANY($1)`, []any{ids}, func(row pgx.Row) (comparedSample, error) {
		var c comparedSample
		var ts time.Time
		err := row.Scan(&c.SampleID, &ts, &c.DeviceID, &c.Fusion.FinalScore, &c.Fusion.FinalGrade,
			&c.VL53L8CH.VolumeMM3, &c.VL53L8CH.AvgHeightMM, &c.VL53L8CH.QualityScore,
			&c.AS7341.QualityScore, &c.AS7341.FreshnessIndex, &c.AS7341.FatQualityIndex)
		c.Timestamp = httpapi.Timestamp(ts)
		c.Fusion.FinalScore = quality.Round(c.Fusion.FinalScore, 3)
		c.VL53L8CH.VolumeMM3 = quality.Round(c.VL53L8CH.VolumeMM3, 2)
		c.VL53L8CH.AvgHeightMM = quality.Round(c.VL53L8CH.AvgHeightMM, 2)
		c.VL53L8CH.QualityScore = quality.Round(c.VL53L8CH.QualityScore, 3)
		c.AS7341.QualityScore = quality.Round(c.AS7341.QualityScore, 3)
		c.AS7341.FreshnessIndex = quality.Round(c.AS7341.FreshnessIndex, 3)
		c.AS7341.FatQualityIndex = quality.Round(c.AS7341.FatQualityIndex, 3)
		return c, err
	})
	if err != nil {
		fail(w, r, fmt.Errorf("compare samples: %w", err))
		return
	}
	byID := make(map[string]comparedSample, len(found))
	for _, c := range found {
		byID[c.SampleID] = c
	}
	out := []comparedSample{}
	for _, id := range ids {
		if c, ok := byID[id]; ok {
			out = append(out, c)
		}
	}
	httpapi.JSON(w, http.StatusOK, out)
}

// writeRaw writes an already encoded JSON body with status 200.
func writeRaw(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
