package analysisapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// The /api/sensors/* reads (§2.17): pages of samples seen through one sensor. Each list
// takes the history's paging and filters (skip/limit or page/page_size, device_id,
// grade, start_date, end_date) and reports total = the filtered count (the former
// target reported the page length).

// sensorList answers one page of rows of sensor_samples matching the request's filter
// and cond, under the list key the former target used ("results" or "data").
func sensorList[T any](s *Server, w http.ResponseWriter, r *http.Request, listKey, cond, columns string, scan func(pgx.Row) (T, error)) {
	p := httpapi.Params(r)
	pg := readPage(p)
	f := readFilter(p)
	if !p.Check(w) {
		return
	}
	var args []any
	where := f.where(&args) + " AND " + cond
	total, err := s.count(r.Context(), f, cond)
	if err != nil {
		fail(w, r, err)
		return
	}
	items, err := queryList(r.Context(), s, `SELECT `+columns+` FROM sensor_samples WHERE `+where+
		fmt.Sprintf(` ORDER BY "timestamp" DESC, sample_id DESC LIMIT %d OFFSET %d`, pg.Size, pg.Offset), args, scan)
	if err != nil {
		fail(w, r, fmt.Errorf("list %s: %w", r.URL.Path, err))
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{listKey: items, "total": total, "skip": pg.Offset, "limit": pg.Size})
}

type tofRawItem struct {
	ID                string            `json:"id"`
	SampleID          string            `json:"sample_id"`
	DeviceID          string            `json:"device_id"`
	Timestamp         httpapi.Timestamp `json:"timestamp"`
	Distances         []json.RawMessage `json:"distances"` // the 64 zones, row-major
	DistanceMatrix    json.RawMessage   `json:"distance_matrix"`
	ReflectanceMatrix json.RawMessage   `json:"reflectance_matrix"`
	AmplitudeMatrix   json.RawMessage   `json:"amplitude_matrix"`
}

// tofRaw serves GET /api/sensors/vl53l8ch/raw/: samples that have a distance matrix.
func (s *Server) tofRaw(w http.ResponseWriter, r *http.Request) {
	sensorList(s, w, r, "results", "vl53l8ch_distance_matrix IS NOT NULL",
		`id::text, sample_id, device_id, "timestamp", vl53l8ch_distance_matrix, vl53l8ch_reflectance_matrix, vl53l8ch_amplitude_matrix`,
		func(row pgx.Row) (tofRawItem, error) {
			var it tofRawItem
			var ts time.Time
			err := row.Scan(&it.ID, &it.SampleID, &it.DeviceID, &ts, &it.DistanceMatrix, &it.ReflectanceMatrix, &it.AmplitudeMatrix)
			it.Timestamp = httpapi.Timestamp(ts)
			it.Distances = flatten(it.DistanceMatrix)
			return it, err
		})
}

// flatten reads a JSON matrix (array of rows) as one row-major list; anything that is
// not an array of arrays gives [].
func flatten(m json.RawMessage) []json.RawMessage {
	var rows [][]json.RawMessage
	out := []json.RawMessage{}
	if json.Unmarshal(m, &rows) != nil {
		return out
	}
	for _, row := range rows {
		out = append(out, row...)
	}
	return out
}

type tofAnalysisItem struct {
	ID                string            `json:"id"`
	SampleID          string            `json:"sample_id"`
	DeviceID          string            `json:"device_id"`
	Timestamp         httpapi.Timestamp `json:"timestamp"`
	Grade             *string           `json:"grade"`
	QualityScore      *float64          `json:"quality_score"`
	VolumeMM3         *float64          `json:"volume_mm3"`
	AverageHeightMM   *float64          `json:"average_height_mm"`
	MaxHeightMM       *float64          `json:"max_height_mm"`
	MinHeightMM       *float64          `json:"min_height_mm"`
	SurfaceUniformity *float64          `json:"surface_uniformity"`
	Defects           json.RawMessage   `json:"defects"`
}

// tofAnalysis serves GET /api/sensors/vl53l8ch/analysis/: the ToF sensor's verdicts.
func (s *Server) tofAnalysis(w http.ResponseWriter, r *http.Request) {
	sensorList(s, w, r, "data", "TRUE",
		`id::text, sample_id, device_id, "timestamp", vl53l8ch_grade, vl53l8ch_quality_score, vl53l8ch_volume_mm3,
 vl53l8ch_avg_height_mm, vl53l8ch_max_height_mm, vl53l8ch_min_height_mm, vl53l8ch_surface_uniformity, vl53l8ch_defects`,
		func(row pgx.Row) (tofAnalysisItem, error) {
			var it tofAnalysisItem
			var ts time.Time
			err := row.Scan(&it.ID, &it.SampleID, &it.DeviceID, &ts, &it.Grade, &it.QualityScore, &it.VolumeMM3,
				&it.AverageHeightMM, &it.MaxHeightMM, &it.MinHeightMM, &it.SurfaceUniformity, &it.Defects)
			it.Timestamp = httpapi.Timestamp(ts)
			it.Defects = orEmptyArray(it.Defects)
			return it, err
		})
}

type spectralRawItem struct {
	ID              string            `json:"id"`
	SampleID        string            `json:"sample_id"`
	DeviceID        string            `json:"device_id"`
	Timestamp       httpapi.Timestamp `json:"timestamp"`
	Channels        json.RawMessage   `json:"channels"`
	IntegrationTime *int32            `json:"integration_time"`
	Gain            *int32            `json:"gain"`
}

// spectralRaw serves GET /api/sensors/as7341/raw/: samples that have channels.
func (s *Server) spectralRaw(w http.ResponseWriter, r *http.Request) {
	sensorList(s, w, r, "data", "as7341_channels IS NOT NULL",
		`id::text, sample_id, device_id, "timestamp", as7341_channels, as7341_integration_time, as7341_gain`,
		func(row pgx.Row) (spectralRawItem, error) {
			var it spectralRawItem
			var ts time.Time
			err := row.Scan(&it.ID, &it.SampleID, &it.DeviceID, &ts, &it.Channels, &it.IntegrationTime, &it.Gain)
			it.Timestamp = httpapi.Timestamp(ts)
			return it, err
		})
}

type spectralAnalysisItem struct {
	ID              string            `json:"id"`
	SampleID        string            `json:"sample_id"`
	DeviceID        string            `json:"device_id"`
	Timestamp       httpapi.Timestamp `json:"timestamp"`
	Grade           *string           `json:"grade"`
	QualityScore    *float64          `json:"quality_score"`
	FreshnessIndex  *float64          `json:"freshness_index"`
	FatQualityIndex *float64          `json:"fat_quality_index"`
	OxidationIndex  *float64          `json:"oxidation_index"`
	ColorUniformity *float64          `json:"color_uniformity"`
	Defects         json.RawMessage   `json:"defects"`
}

// spectralAnalysis serves GET /api/sensors/as7341/analysis/: the spectral verdicts.
func (s *Server) spectralAnalysis(w http.ResponseWriter, r *http.Request) {
	sensorList(s, w, r, "data", "TRUE",
		`id::text, sample_id, device_id, "timestamp", as7341_grade, as7341_quality_score, as7341_freshness_index,
 as7341_fat_quality_index, as7341_oxidation_index, as7341_color_uniformity, as7341_defects`,
		func(row pgx.Row) (spectralAnalysisItem, error) {
			var it spectralAnalysisItem
			var ts time.Time
			err := row.Scan(&it.ID, &it.SampleID, &it.DeviceID, &ts, &it.Grade, &it.QualityScore, &it.FreshnessIndex,
				&it.FatQualityIndex, &it.OxidationIndex, &it.ColorUniformity, &it.Defects)
			it.Timestamp = httpapi.Timestamp(ts)
			it.Defects = orEmptyArray(it.Defects)
			return it, err
		})
}

type fusionItem struct {
	ID            string            `json:"id"`
	Time          httpapi.Timestamp `json:"time"`
	DeviceID      string            `json:"deviceId"`
	SampleID      string            `json:"sampleId"`
	Grade         string            `json:"grade"`
	QualityScore  float64           `json:"qualityScore"`
	VL53L8CHScore *float64          `json:"vl53l8chScore"`
	AS7341Score   *float64          `json:"as7341Score"`
	Defects       json.RawMessage   `json:"defects"`
	NumDefects    int64             `json:"numDefects"`
}

// fusion serves GET /api/sensors/fusion/: the fused verdicts. The sensor scores are
// those the fusion used, else the sensors' own; numDefects is the fusion list's length.
func (s *Server) fusion(w http.ResponseWriter, r *http.Request) {
	sensorList(s, w, r, "results", "TRUE",
		`id::text, "timestamp", device_id, sample_id, fusion_final_grade, fusion_final_score,
 COALESCE(fusion_vl53l8ch_score, vl53l8ch_quality_score), COALESCE(fusion_as7341_score, as7341_quality_score),
 fusion_defects, CASE WHEN jsonb_typeof(fusion_defects) = 'array' THEN jsonb_array_length(fusion_defects) ELSE 0 END`,
		func(row pgx.Row) (fusionItem, error) {
			var it fusionItem
			var ts time.Time
			err := row.Scan(&it.ID, &ts, &it.DeviceID, &it.SampleID, &it.Grade, &it.QualityScore,
				&it.VL53L8CHScore, &it.AS7341Score, &it.Defects, &it.NumDefects)
			it.Time = httpapi.Timestamp(ts)
			it.Defects = orEmptyArray(it.Defects)
			return it, err
		})
}
