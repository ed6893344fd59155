package sqalread

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// SampleDict is one stored sample as the SQAL contract exposes it (§5.2): exactly
// these 45 keys, in this order. Pointers and json.RawMessage are null when the column
// is NULL. Columns the contract keeps private (id, bins_matrix, raw_message, …) are
// deliberately absent.
type SampleDict struct {
	Time     httpapi.Timestamp `json:"time"`
	SampleID string            `json:"sample_id"`
	DeviceID string            `json:"device_id"`
	LotID    *int64            `json:"lot_id"`

	VL53L8CHDistanceMatrix    json.RawMessage `json:"vl53l8ch_distance_matrix"`
	VL53L8CHReflectanceMatrix json.RawMessage `json:"vl53l8ch_reflectance_matrix"`
	VL53L8CHAmplitudeMatrix   json.RawMessage `json:"vl53l8ch_amplitude_matrix"`
	// No column exists for these two; the contract keeps them as always-null keys.
	VL53L8CHIntegrationTime *int64   `json:"vl53l8ch_integration_time"`
	VL53L8CHTemperatureC    *float64 `json:"vl53l8ch_temperature_c"`

	VL53L8CHVolumeMM3            *float64        `json:"vl53l8ch_volume_mm3"`
	VL53L8CHAvgHeightMM          *float64        `json:"vl53l8ch_avg_height_mm"`
	VL53L8CHMaxHeightMM          *float64        `json:"vl53l8ch_max_height_mm"`
	VL53L8CHMinHeightMM          *float64        `json:"vl53l8ch_min_height_mm"`
	VL53L8CHSurfaceUniformity    *float64        `json:"vl53l8ch_surface_uniformity"`
	VL53L8CHBinsAnalysis         json.RawMessage `json:"vl53l8ch_bins_analysis"`
	VL53L8CHReflectanceAnalysis  json.RawMessage `json:"vl53l8ch_reflectance_analysis"`
	VL53L8CHAmplitudeConsistency json.RawMessage `json:"vl53l8ch_amplitude_consistency"`
	VL53L8CHQualityScore         *float64        `json:"vl53l8ch_quality_score"`
	VL53L8CHGrade                *string         `json:"vl53l8ch_grade"`
	VL53L8CHScoreBreakdown       json.RawMessage `json:"vl53l8ch_score_breakdown"`
	VL53L8CHDefects              json.RawMessage `json:"vl53l8ch_defects"`

	AS7341Channels         json.RawMessage `json:"as7341_channels"`
	AS7341IntegrationTime  *int64          `json:"as7341_integration_time"`
	AS7341Gain             *int64          `json:"as7341_gain"`
	AS7341FreshnessIndex   *float64        `json:"as7341_freshness_index"`
	AS7341FatQualityIndex  *float64        `json:"as7341_fat_quality_index"`
	AS7341OxidationIndex   *float64        `json:"as7341_oxidation_index"`
	AS7341SpectralAnalysis json.RawMessage `json:"as7341_spectral_analysis"`
	AS7341ColorAnalysis    json.RawMessage `json:"as7341_color_analysis"`
	AS7341QualityScore     *float64        `json:"as7341_quality_score"`
	AS7341Grade            *string         `json:"as7341_grade"`
	AS7341ScoreBreakdown   json.RawMessage `json:"as7341_score_breakdown"`
	AS7341Defects          json.RawMessage `json:"as7341_defects"`

	FusionFinalScore    float64         `json:"fusion_final_score"`
	FusionFinalGrade    string          `json:"fusion_final_grade"`
	FusionVL53L8CHScore *float64        `json:"fusion_vl53l8ch_score"`
	FusionAS7341Score   *float64        `json:"fusion_as7341_score"`
	FusionDefects       json.RawMessage `json:"fusion_defects"`
	FusionIsCompliant   *bool           `json:"fusion_is_compliant"`

	MetaFirmwareVersion *string  `json:"meta_firmware_version"`
	MetaTemperatureC    *float64 `json:"meta_temperature_c"`
	MetaHumidityPercent *float64 `json:"meta_humidity_percent"`
	MetaConfigProfile   *string  `json:"meta_config_profile"`

	CreatedAt        *httpapi.Timestamp `json:"created_at"`
	PoidsFoieEstimeG *float64           `json:"poids_foie_estime_g"`
}

// SampleColumns is the select list ScanSample expects, in order. Use it with an
// optional table alias prefix via SampleColumnsOf.
const SampleColumns = `timestamp, sample_id, device_id, lot_id,
 vl53l8ch_distance_matrix, vl53l8ch_reflectance_matrix, vl53l8ch_amplitude_matrix,
 vl53l8ch_volume_mm3, vl53l8ch_avg_height_mm, vl53l8ch_max_height_mm, vl53l8ch_min_height_mm,
 vl53l8ch_surface_uniformity, vl53l8ch_bins_analysis, vl53l8ch_reflectance_analysis,
 vl53l8ch_amplitude_consistency, vl53l8ch_quality_score, vl53l8ch_grade,
 vl53l8ch_score_breakdown, vl53l8ch_defects,
 as7341_channels, as7341_integration_time, as7341_gain,
 as7341_freshness_index, as7341_fat_quality_index, as7341_oxidation_index,
 as7341_spectral_analysis, as7341_color_analysis, as7341_quality_score, as7341_grade,
 as7341_score_breakdown, as7341_defects,
 fusion_final_score, fusion_final_grade, fusion_vl53l8ch_score, fusion_as7341_score,
 fusion_defects, fusion_is_compliant,
 meta_firmware_version, meta_temperature_c, meta_humidity_percent, meta_config_profile,
 created_at, poids_foie_estime_g`

// ScanSample reads one row selected with SampleColumns.
func ScanSample(row pgx.Row) (*SampleDict, error) {
	var (
		s         SampleDict
		ts        time.Time
		created   *time.Time
		lot       *int32
		intTime   *int32
		gain      *int32
		compliant *bool
	)
	err := row.Scan(&ts, &s.SampleID, &s.DeviceID, &lot,
		raw(&s.VL53L8CHDistanceMatrix), raw(&s.VL53L8CHReflectanceMatrix), raw(&s.VL53L8CHAmplitudeMatrix),
		&s.VL53L8CHVolumeMM3, &s.VL53L8CHAvgHeightMM, &s.VL53L8CHMaxHeightMM, &s.VL53L8CHMinHeightMM,
		&s.VL53L8CHSurfaceUniformity, raw(&s.VL53L8CHBinsAnalysis), raw(&s.VL53L8CHReflectanceAnalysis),
		raw(&s.VL53L8CHAmplitudeConsistency), &s.VL53L8CHQualityScore, &s.VL53L8CHGrade,
		raw(&s.VL53L8CHScoreBreakdown), raw(&s.VL53L8CHDefects),
		raw(&s.AS7341Channels), &intTime, &gain,
		&s.AS7341FreshnessIndex, &s.AS7341FatQualityIndex, &s.AS7341OxidationIndex,
		raw(&s.AS7341SpectralAnalysis), raw(&s.AS7341ColorAnalysis), &s.AS7341QualityScore, &s.AS7341Grade,
		raw(&s.AS7341ScoreBreakdown), raw(&s.AS7341Defects),
		&s.FusionFinalScore, &s.FusionFinalGrade, &s.FusionVL53L8CHScore, &s.FusionAS7341Score,
		raw(&s.FusionDefects), &compliant,
		&s.MetaFirmwareVersion, &s.MetaTemperatureC, &s.MetaHumidityPercent, &s.MetaConfigProfile,
		&created, &s.PoidsFoieEstimeG)
	if err != nil {
		return nil, err
	}
	s.Time = httpapi.Timestamp(ts)
	s.CreatedAt = httpapi.TimePtr(created)
	s.LotID = int64Ptr(lot)
	s.AS7341IntegrationTime = int64Ptr(intTime)
	s.AS7341Gain = int64Ptr(gain)
	s.FusionIsCompliant = Compliant(compliant, s.FusionFinalGrade)
	return &s, nil
}

// raw makes pgx copy a jsonb value as bytes: scanning into *json.RawMessage runs
// json.Unmarshal over every value (measured: a third of the samples list's CPU).
func raw(m *json.RawMessage) *[]byte { return (*[]byte)(m) }

// Compliant is the contract's fusion_is_compliant (§5.2 #39): the stored column, else
// derived from the grade for rows written before the column existed (grade != REJECT,
// null when the grade is empty).
func Compliant(stored *bool, grade string) *bool {
	if stored != nil {
		return stored
	}
	if grade == "" {
		return nil
	}
	c := grade != "REJECT"
	return &c
}

func int64Ptr(v *int32) *int64 {
	if v == nil {
		return nil
	}
	x := int64(*v)
	return &x
}

// ErrNoSample is returned by LatestSample when the table holds no matching sample.
var ErrNoSample = errors.New("no sample")

// LatestSample returns the newest sample (by timestamp), or ErrNoSample.
func LatestSample(ctx context.Context, db Querier) (*SampleDict, error) {
	return LatestSampleOf(ctx, db, "")
}

// LatestSampleOf returns the newest sample of one device (all devices when deviceID
// is empty), or ErrNoSample.
func LatestSampleOf(ctx context.Context, db Querier, deviceID string) (*SampleDict, error) {
	q := `SELECT ` + SampleColumns + ` FROM sensor_samples`
	var args []any
	if deviceID != "" {
		q += ` WHERE device_id = $1`
		args = append(args, deviceID)
	}
	q += ` ORDER BY timestamp DESC, created_at DESC NULLS LAST LIMIT 1`
	s, err := ScanSample(db.QueryRow(ctx, q, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSample
	}
	if err != nil {
		return nil, fmt.Errorf("read latest sample: %w", err)
	}
	return s, nil
}

// SampleByID returns the sample with this sample_id, or ErrNoSample.
func SampleByID(ctx context.Context, db Querier, sampleID string) (*SampleDict, error) {
	s, err := ScanSample(db.QueryRow(ctx, `SELECT `+SampleColumns+` FROM sensor_samples WHERE sample_id = $1`, sampleID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSample
	}
	if err != nil {
		return nil, fmt.Errorf("read sample %s: %w", sampleID, err)
	}
	return s, nil
}

// LiveSample is the data of the /ws/realtime/ latest_sample message (contract §4.4):
// the 45 SampleDict keys followed by three copies the SQAL dashboard's
// "latest analysis" store reads.
type LiveSample struct {
	*SampleDict
	FinalScore float64           `json:"final_score"`
	FinalGrade string            `json:"final_grade"`
	Timestamp  httpapi.Timestamp `json:"timestamp"`
}

// Live wraps s with the three additive keys of the latest_sample message.
func (s *SampleDict) Live() LiveSample {
	return LiveSample{SampleDict: s, FinalScore: s.FusionFinalScore, FinalGrade: s.FusionFinalGrade, Timestamp: s.Time}
}
