package analysisapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/quality"
)

// historyItem is one analysis of GET /api/analysis/history/ (§2.5): the former target's
// keys plus lotAbattage; qualityScore and time are never null (the page multiplies and
// formats them).
type historyItem struct {
	ID            string            `json:"id"`
	Time          httpapi.Timestamp `json:"time"`
	DeviceID      string            `json:"deviceId"`
	SampleID      string            `json:"sampleId"`
	Grade         string            `json:"grade"`
	QualityScore  float64           `json:"qualityScore"`
	NumDefects    int64             `json:"numDefects"`
	VL53L8CHScore *float64          `json:"vl53l8chScore"`
	AS7341Score   *float64          `json:"as7341Score"`
	VL53L8CHGrade *string           `json:"vl53l8chGrade"`
	AS7341Grade   *string           `json:"as7341Grade"`
	Defects       json.RawMessage   `json:"defects"`
	LotAbattage   *string           `json:"lotAbattage"`
	VL53L8CH      *tofSummary       `json:"vl53l8ch"`
	AS7341        *spectralSummary  `json:"as7341"`
}

type tofSummary struct {
	VolumeMM3         *float64 `json:"volume_mm3"`
	AvgHeightMM       *float64 `json:"avg_height_mm"`
	SurfaceUniformity *float64 `json:"surface_uniformity"`
}

type spectralSummary struct {
	Channels       json.RawMessage `json:"channels"`
	FreshnessIndex *float64        `json:"freshness_index"`
	ColorScore     *float64        `json:"color_score"`
}

// numDefectsSQL is §2.5's numDefects: the ToF defect count when set, else the length of
// the fusion defect list, else 0.
const numDefectsSQL = `COALESCE(vl53l8ch_defect_count,
  CASE WHEN jsonb_typeof(fusion_defects) = 'array' THEN jsonb_array_length(fusion_defects) END, 0)`

// freshnessSQL: the former target read as7341_freshness_score, which nothing fills
// (no inbound source); the index the device sends is the same measure.
const freshnessSQL = `COALESCE(as7341_freshness_score, as7341_freshness_index)`

// lotSQL is the slaughter lot the sample carries, else the device's lot code.
const lotSQL = `COALESCE(lot_abattage, code_lot)`

const historyColumns = `id::text, "timestamp", device_id, sample_id, fusion_final_grade, fusion_final_score,
 ` + numDefectsSQL + `, vl53l8ch_quality_score, as7341_quality_score, vl53l8ch_grade, as7341_grade,
 fusion_defects, ` + lotSQL + `, vl53l8ch_volume_mm3, vl53l8ch_avg_height_mm, vl53l8ch_surface_uniformity,
 as7341_channels, ` + freshnessSQL + `, as7341_color_score`

func scanHistoryItem(row pgx.Row) (historyItem, error) {
	var (
		it       historyItem
		ts       time.Time
		tof      tofSummary
		spectral spectralSummary
	)
	err := row.Scan(&it.ID, &ts, &it.DeviceID, &it.SampleID, &it.Grade, &it.QualityScore,
		&it.NumDefects, &it.VL53L8CHScore, &it.AS7341Score, &it.VL53L8CHGrade, &it.AS7341Grade,
		&it.Defects, &it.LotAbattage, &tof.VolumeMM3, &tof.AvgHeightMM, &tof.SurfaceUniformity,
		&spectral.Channels, &spectral.FreshnessIndex, &spectral.ColorScore)
	if err != nil {
		return it, err
	}
	it.Time = httpapi.Timestamp(ts)
	it.Defects = orEmptyArray(it.Defects)
	// The former target sent no ToF block when there was no volume, and no spectral
	// block without channels.
	if tof.VolumeMM3 != nil && *tof.VolumeMM3 != 0 {
		it.VL53L8CH = &tof
	}
	if len(spectral.Channels) > 0 {
		it.AS7341 = &spectral
	}
	return it, nil
}

// history serves GET /api/analysis/history/: filtered, newest first, real paging.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	pg := readPage(p)
	f := readFilter(p)
	if !p.Check(w) {
		return
	}
	var args []any
	where := f.where(&args)
	total, err := s.count(r.Context(), f, "TRUE")
	if err != nil {
		fail(w, r, err)
		return
	}
	items, err := queryList(r.Context(), s, `SELECT `+historyColumns+` FROM sensor_samples WHERE `+where+
		fmt.Sprintf(` ORDER BY "timestamp" DESC, sample_id DESC LIMIT %d OFFSET %d`, pg.Size, pg.Offset),
		args, scanHistoryItem)
	if err != nil {
		fail(w, r, fmt.Errorf("list analyses: %w", err))
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{
		"analyses":   items,
		"pagination": newPagination(pg, total),
	})
}

// analysisDetail is GET /api/analysis/history/{id} (§2.5).
type analysisDetail struct {
	ID           string            `json:"id"`
	Time         httpapi.Timestamp `json:"time"`
	DeviceID     string            `json:"deviceId"`
	SampleID     string            `json:"sampleId"`
	Grade        string            `json:"grade"`
	QualityScore float64           `json:"qualityScore"`
	NumDefects   int64             `json:"numDefects"`
	LotAbattage  *string           `json:"lotAbattage"`
	VL53L8CH     struct {
		DistanceMatrix    json.RawMessage `json:"distance_matrix"`
		VolumeMM3         *float64        `json:"volume_mm3"`
		AvgHeightMM       *float64        `json:"avg_height_mm"`
		SurfaceUniformity *float64        `json:"surface_uniformity"`
		QualityScore      *float64        `json:"quality_score"`
		Grade             *string         `json:"grade"`
	} `json:"vl53l8ch"`
	AS7341 struct {
		Channels       json.RawMessage `json:"channels"`
		ColorScore     *float64        `json:"color_score"`
		FreshnessScore *float64        `json:"freshness_score"`
		QualityScore   *float64        `json:"quality_score"`
		Grade          *string         `json:"grade"`
	} `json:"as7341"`
	Fusion struct {
		FinalScore float64         `json:"final_score"`
		FinalGrade string          `json:"final_grade"`
		Confidence *float64        `json:"confidence"`
		Defects    json.RawMessage `json:"defects"`
	} `json:"fusion"`
}

var uuidPattern = regexp.MustCompile(`^(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// analysis serves GET /api/analysis/history/{analysis_id}: by row uuid or sample_id;
// anything else (including a malformed uuid, a 500 in the former target) is a 404.
func (s *Server) analysis(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("analysis_id")
	cond, args := `sample_id = $1`, []any{id}
	if uuidPattern.MatchString(id) {
		// A sample_id may look like a uuid too; the row id wins, as in the former target.
		cond = `(id = $2::uuid OR sample_id = $1) ORDER BY (id = $2::uuid) DESC LIMIT 1`
		args = append(args, id)
	}
	var (
		d  analysisDetail
		ts time.Time
	)
	err := s.db.QueryRow(r.Context(), `SELECT id::text, "timestamp", device_id, sample_id, fusion_final_grade,
  fusion_final_score, `+numDefectsSQL+`, `+lotSQL+`,
  vl53l8ch_distance_matrix, vl53l8ch_volume_mm3, vl53l8ch_avg_height_mm, vl53l8ch_surface_uniformity,
  vl53l8ch_quality_score, vl53l8ch_grade,
  as7341_channels, as7341_color_score, `+freshnessSQL+`, as7341_quality_score, as7341_grade,
  fusion_confidence, fusion_defects
FROM sensor_samples WHERE `+cond, args...).Scan(
		&d.ID, &ts, &d.DeviceID, &d.SampleID, &d.Grade, &d.QualityScore, &d.NumDefects, &d.LotAbattage,
		&d.VL53L8CH.DistanceMatrix, &d.VL53L8CH.VolumeMM3, &d.VL53L8CH.AvgHeightMM, &d.VL53L8CH.SurfaceUniformity,
		&d.VL53L8CH.QualityScore, &d.VL53L8CH.Grade,
		&d.AS7341.Channels, &d.AS7341.ColorScore, &d.AS7341.FreshnessScore, &d.AS7341.QualityScore, &d.AS7341.Grade,
		&d.Fusion.Confidence, &d.Fusion.Defects)
	if errors.Is(err, pgx.ErrNoRows) {
		detail(w, http.StatusNotFound, "Analysis not found")
		return
	}
	if err != nil {
		fail(w, r, fmt.Errorf("read analysis %q: %w", id, err))
		return
	}
	d.Time = httpapi.Timestamp(ts)
	d.Fusion.FinalScore, d.Fusion.FinalGrade = d.QualityScore, d.Grade
	d.Fusion.Defects = orEmptyArray(d.Fusion.Defects)
	httpapi.JSON(w, http.StatusOK, d)
}

// count returns the number of samples matching f (and cond, a condition on other
// columns, "TRUE" for none), cached under the sample generation: a list polled every
// 5 s must not count a million rows each time. Without cond the count comes from the
// hourly rollup (quality.GradeTotals); with one, from the samples.
func (s *Server) count(ctx context.Context, f filter, cond string) (int64, error) {
	b, err := s.cache.JSON(ctx, "count", cond+" "+f.key(), s.cfg.StatsCacheTTL, func(ctx context.Context) (any, error) {
		if cond == "TRUE" {
			totals, err := quality.GradeTotals(ctx, s.db, f.period())
			if err != nil {
				return nil, err
			}
			if f.Grade != "" {
				return totals[f.Grade].N, nil
			}
			return quality.Sum(totals).N, nil
		}
		var args []any
		var n int64
		if err := s.db.QueryRow(ctx, `SELECT count(*) FROM sensor_samples WHERE `+f.where(&args)+` AND `+cond, args...).Scan(&n); err != nil {
			return nil, fmt.Errorf("count samples where %s: %w", cond, err)
		}
		return n, nil
	})
	if err != nil {
		return 0, err
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return 0, fmt.Errorf("decode cached count: %w", err)
	}
	return n, nil
}

// queryList runs a query and scans every row with scan.
func queryList[T any](ctx context.Context, s *Server, sql string, args []any, scan func(pgx.Row) (T, error)) ([]T, error) {
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// orEmptyArray turns a NULL (or JSON null) list into [] so that clients can iterate it.
func orEmptyArray(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return json.RawMessage("[]")
	}
	return b
}
