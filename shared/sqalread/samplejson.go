package sqalread

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// MarshalJSON writes the 45 keys in the documented order. It is hand-written because
// the samples list returns up to 1,000 of these with three 8x8 matrices and several
// analysis objects each: encoding/json re-validates and re-compacts every embedded
// json.RawMessage, which cost more than the database query. The jsonb values come from
// PostgreSQL's own output and are copied as they are.
func (s *SampleDict) MarshalJSON() ([]byte, error) {
	return s.appendJSON(make([]byte, 0, 2048)), nil
}

// AppendSamples appends list as a JSON array to b. Handlers that return many samples
// write this directly: json.Marshal would re-validate the whole output.
func AppendSamples(b []byte, list []*SampleDict) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendJSON(b)
	}
	return append(b, ']')
}

// MarshalJSON writes the SampleDict keys followed by the three latest_sample copies.
func (l LiveSample) MarshalJSON() ([]byte, error) {
	b := l.SampleDict.appendJSON(make([]byte, 0, 2048))
	b = b[:len(b)-1] // reopen the object
	b = append(b, `,"final_score":`...)
	b = appendFloat(b, l.FinalScore)
	b = append(b, `,"final_grade":`...)
	b = appendString(b, l.FinalGrade)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, time.Time(l.Timestamp))
	return append(b, '}'), nil
}

func (s *SampleDict) appendJSON(b []byte) []byte {
	b = append(b, `{"time":`...)
	b = appendTime(b, time.Time(s.Time))
	b = append(b, `,"sample_id":`...)
	b = appendString(b, s.SampleID)
	b = append(b, `,"device_id":`...)
	b = appendString(b, s.DeviceID)
	b = appendKey(b, "lot_id")
	b = appendIntPtr(b, s.LotID)
	b = appendRawKey(b, "vl53l8ch_distance_matrix", s.VL53L8CHDistanceMatrix)
	b = appendRawKey(b, "vl53l8ch_reflectance_matrix", s.VL53L8CHReflectanceMatrix)
	b = appendRawKey(b, "vl53l8ch_amplitude_matrix", s.VL53L8CHAmplitudeMatrix)
	b = appendKey(b, "vl53l8ch_integration_time")
	b = appendIntPtr(b, s.VL53L8CHIntegrationTime)
	b = appendFloatKey(b, "vl53l8ch_temperature_c", s.VL53L8CHTemperatureC)
	b = appendFloatKey(b, "vl53l8ch_volume_mm3", s.VL53L8CHVolumeMM3)
	b = appendFloatKey(b, "vl53l8ch_avg_height_mm", s.VL53L8CHAvgHeightMM)
	b = appendFloatKey(b, "vl53l8ch_max_height_mm", s.VL53L8CHMaxHeightMM)
	b = appendFloatKey(b, "vl53l8ch_min_height_mm", s.VL53L8CHMinHeightMM)
	b = appendFloatKey(b, "vl53l8ch_surface_uniformity", s.VL53L8CHSurfaceUniformity)
	b = appendRawKey(b, "vl53l8ch_bins_analysis", s.VL53L8CHBinsAnalysis)
	b = appendRawKey(b, "vl53l8ch_reflectance_analysis", s.VL53L8CHReflectanceAnalysis)
	b = appendRawKey(b, "vl53l8ch_amplitude_consistency", s.VL53L8CHAmplitudeConsistency)
	b = appendFloatKey(b, "vl53l8ch_quality_score", s.VL53L8CHQualityScore)
	b = appendStringKey(b, "vl53l8ch_grade", s.VL53L8CHGrade)
	b = appendRawKey(b, "vl53l8ch_score_breakdown", s.VL53L8CHScoreBreakdown)
	b = appendRawKey(b, "vl53l8ch_defects", s.VL53L8CHDefects)
	b = appendRawKey(b, "as7341_channels", s.AS7341Channels)
	b = appendKey(b, "as7341_integration_time")
	b = appendIntPtr(b, s.AS7341IntegrationTime)
	b = appendKey(b, "as7341_gain")
	b = appendIntPtr(b, s.AS7341Gain)
	b = appendFloatKey(b, "as7341_freshness_index", s.AS7341FreshnessIndex)
	b = appendFloatKey(b, "as7341_fat_quality_index", s.AS7341FatQualityIndex)
	b = appendFloatKey(b, "as7341_oxidation_index", s.AS7341OxidationIndex)
	b = appendRawKey(b, "as7341_spectral_analysis", s.AS7341SpectralAnalysis)
	b = appendRawKey(b, "as7341_color_analysis", s.AS7341ColorAnalysis)
	b = appendFloatKey(b, "as7341_quality_score", s.AS7341QualityScore)
	b = appendStringKey(b, "as7341_grade", s.AS7341Grade)
	b = appendRawKey(b, "as7341_score_breakdown", s.AS7341ScoreBreakdown)
	b = appendRawKey(b, "as7341_defects", s.AS7341Defects)
	b = append(b, `,"fusion_final_score":`...)
	b = appendFloat(b, s.FusionFinalScore)
	b = append(b, `,"fusion_final_grade":`...)
	b = appendString(b, s.FusionFinalGrade)
	b = appendFloatKey(b, "fusion_vl53l8ch_score", s.FusionVL53L8CHScore)
	b = appendFloatKey(b, "fusion_as7341_score", s.FusionAS7341Score)
	b = appendRawKey(b, "fusion_defects", s.FusionDefects)
	b = appendKey(b, "fusion_is_compliant")
	switch {
	case s.FusionIsCompliant == nil:
		b = append(b, "null"...)
	case *s.FusionIsCompliant:
		b = append(b, "true"...)
	default:
		b = append(b, "false"...)
	}
	b = appendStringKey(b, "meta_firmware_version", s.MetaFirmwareVersion)
	b = appendFloatKey(b, "meta_temperature_c", s.MetaTemperatureC)
	b = appendFloatKey(b, "meta_humidity_percent", s.MetaHumidityPercent)
	b = appendStringKey(b, "meta_config_profile", s.MetaConfigProfile)
	b = appendKey(b, "created_at")
	if s.CreatedAt == nil {
		b = append(b, "null"...)
	} else {
		b = appendTime(b, time.Time(*s.CreatedAt))
	}
	b = appendFloatKey(b, "poids_foie_estime_g", s.PoidsFoieEstimeG)
	return append(b, '}')
}

func appendKey(b []byte, k string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendRawKey(b []byte, k string, v json.RawMessage) []byte {
	b = appendKey(b, k)
	if len(v) == 0 {
		return append(b, "null"...)
	}
	return append(b, v...)
}

func appendFloatKey(b []byte, k string, v *float64) []byte {
	b = appendKey(b, k)
	if v == nil {
		return append(b, "null"...)
	}
	return appendFloat(b, *v)
}

func appendStringKey(b []byte, k string, v *string) []byte {
	b = appendKey(b, k)
	if v == nil {
		return append(b, "null"...)
	}
	return appendString(b, *v)
}

func appendIntPtr(b []byte, v *int64) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, *v, 10)
}

// appendFloat formats like encoding/json (shortest representation, exponent only for
// very small or large magnitudes). NaN and ±Inf cannot be stored by the ingest
// validation; they are written as null rather than producing invalid JSON.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendString escapes exactly like encoding/json (including its HTML-safe escapes).
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, httpapi.TimeLayout)
	return append(b, '"')
}
