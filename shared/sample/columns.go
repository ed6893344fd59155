package sample

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Columns are the sensor_samples columns the ingest writes, in the order of Row.
// id and created_at come from their database defaults; the QR column and
// as7341_color_score/as7341_freshness_score have no inbound source (§1.8) and stay NULL.
//
// vl53l8ch_bins_matrix also stays NULL: the 8x8x128 histogram is ~108 KB of JSON
// numbers and would by itself be 10x the storage budget as jsonb; it is kept in
// raw_message as fixed-point integers (~6.4 KB; DecodeRaw + the histogram path
// "vl53l8ch_raw.bins_matrix", see raw.go).
var Columns = []string{
	"timestamp", "device_id", "sample_id", "lot_id", "code_lot",
	"vl53l8ch_distance_matrix", "vl53l8ch_reflectance_matrix", "vl53l8ch_amplitude_matrix",
	"vl53l8ch_volume_mm3", "vl53l8ch_avg_height_mm", "vl53l8ch_max_height_mm",
	"vl53l8ch_min_height_mm", "vl53l8ch_base_area_mm2", "vl53l8ch_surface_uniformity",
	"vl53l8ch_defect_count", "vl53l8ch_quality_score", "vl53l8ch_grade",
	"vl53l8ch_bins_analysis", "vl53l8ch_reflectance_analysis", "vl53l8ch_amplitude_consistency",
	"vl53l8ch_score_breakdown", "vl53l8ch_defects",
	"as7341_channels", "as7341_integration_time", "as7341_gain",
	"as7341_freshness_index", "as7341_fat_quality_index", "as7341_oxidation_index",
	"as7341_color_uniformity", "as7341_quality_score", "as7341_grade",
	"as7341_spectral_analysis", "as7341_color_analysis", "as7341_score_breakdown", "as7341_defects",
	"fusion_final_score", "fusion_final_grade", "fusion_vl53l8ch_score", "fusion_as7341_score",
	"fusion_confidence", "fusion_defects", "fusion_is_compliant",
	"meta_firmware_version", "meta_temperature_c", "meta_humidity_percent", "meta_config_profile",
	"processing_time_ms", "lot_abattage", "eleveur", "provenance", "poids_foie_estime_g",
	"raw_message", "raw_message_encoding",
	// Migration 00041: fusion.foie_gras_metrics.{lobe_thickness_mm, l_star, delta_e} as
	// columns, so the dashboard overview need not decompress 100 frames per request.
	"foie_gras_lobe_thickness_mm", "foie_gras_l_star", "foie_gras_delta_e",
	// The integrity seal of a compliant sample (Seal); NULL otherwise.
	"blockchain_hash", "blockchain_timestamp",
}

// rawMessageColumn is the index of raw_message, the one bytea column of Columns.
var rawMessageColumn = slices.Index(Columns, "raw_message")

// Row returns the values of Columns for this sample, typed for pgx: time.Time, string,
// *string, float64, *float64, *int32, *int64, bool, string holding JSON text for jsonb
// columns, []byte for raw_message (nil = NULL). raw is the stored frame (see EncodeRaw) and encoding its
// raw_message_encoding.
func (s *Sample) Row(raw []byte, encoding string) []any {
	vl, as, fu, w := &s.vl, &s.as, &s.fu, &s.Frame.w
	stats := parseStats(vl.Stats)
	fg := parseFoieGras(fu.FoieGrasMetrics)

	row := []any{
		s.Timestamp, s.DeviceID, s.SampleID, lotIDColumn(s.LotID), optColumn(s.CodeLot, 20),
		matrixJSON(s.ToF.DistanceMatrix), matrixJSON(s.ToF.ReflectanceMatrix), matrixJSON(s.ToF.AmplitudeMatrix),
		s.ToF.VolumeMM3,
		vl.averageHeight(stats),
		firstNumber(vl.MaxHeightMM, stats.MaxHeightMM),
		firstNumber(vl.MinHeightMM, stats.MinHeightMM),
		firstNumber(vl.BaseAreaMM, stats.BaseAreaMM2),
		s.ToF.SurfaceUniformity,
		defectCount(vl.Defects), s.ToF.QualityScore, s.ToF.Grade,
		jsonbValue(vl.BinsAnalysis), jsonbValue(vl.ReflectanceAnalysis), jsonbValue(vl.AmplitudeConsistency),
		jsonbValue(vl.ScoreBreakdown), jsonbValue(vl.Defects),
		channelsJSON(&s.Spectral.Channels), optInt(as.IntegrationTime), optInt(as.Gain),
		s.Spectral.FreshnessIndex, s.Spectral.FatQualityIndex, s.Spectral.OxidationIndex,
		optNumber(as.ColorUniformity), s.Spectral.QualityScore, s.Spectral.Grade,
		jsonbValue(as.SpectralRatios), jsonbValue(as.QualityJS), jsonbValue(as.QualityMetrics), jsonbValue(as.Defects),
		s.Fusion.FinalScore, s.Fusion.FinalGrade,
		firstNumber(fu.VL53Score, fu.TofScore), firstNumber(fu.AS7341Score, fu.SpectralScore),
		s.Fusion.ConfidenceLevel, jsonbValue(firstPresent(fu.CombinedDefects, fu.Defects)), s.Fusion.IsCompliant,
		optColumn(firstString(s.meta.FirmwareVersion, w.FirmwareVersion), 50),
		firstNumber(s.meta.TemperatureC, w.TemperatureC),
		firstNumber(s.meta.HumidityPercent, w.HumidityPct),
		optColumn(s.ConfigProfile, 100),
		processingTimeMS(vl.ProcessingTimeS),
		optColumn(optString(w.LotAbattage), 100), optColumn(optString(w.Eleveur), 200), optColumn(optString(w.Provenance), 200),
		s.PoidsFoieEstimeG,
		raw, encoding,
		fg.LobeThickness, fg.LStar, fg.DeltaE,
		s.SealHash, s.SealTime,
	}
	if len(row) != len(Columns) {
		panic(fmt.Sprintf("sample.Row: %d values for %d columns", len(row), len(Columns)))
	}
	// jsonb values travel as text: behind PgBouncer in transaction mode the pool runs in
	// pgx's exec mode, where parameter types are not described first and a []byte would
	// be sent as bytea ("invalid input syntax for type json"). raw_message is bytea.
	for i, v := range row {
		if b, ok := v.([]byte); ok && i != rawMessageColumn {
			if b == nil {
				row[i] = nil
			} else {
				row[i] = string(b)
			}
		}
	}
	return row
}

func lotIDColumn(id *int64) *int32 {
	if id == nil {
		return nil
	}
	v := int32(*id) // lotID checked the int32 range
	return &v
}

// averageHeight is vl53l8ch.average_height_mm, else vl53l8ch.stats.average_height_mm
// (column vl53l8ch_avg_height_mm and the stored event's vl53l8ch_avg_height_mm).
func (vl *wireToF) averageHeight(stats wireStats) *float64 {
	return firstNumber(vl.AverageHeightMM, stats.AverageHeightMM)
}

// wireStats holds the members of vl53l8ch.stats the ingest reads.
type wireStats struct {
	AverageHeightMM, MaxHeightMM, MinHeightMM, BaseAreaMM2 []byte
	VolumeTrapezoidal, VolumeSimpson, VolumeSpline         []byte
}

func parseStats(v []byte) wireStats {
	var st wireStats
	if !isObject(v) {
		return st
	}
	eachMember(v, func(k string, val []byte) {
		switch k {
		case "average_height_mm":
			st.AverageHeightMM = val
		case "max_height_mm":
			st.MaxHeightMM = val
		case "min_height_mm":
			st.MinHeightMM = val
		case "base_area_mm2":
			st.BaseAreaMM2 = val
		case "volume_trapezoidal_mm3":
			st.VolumeTrapezoidal = val
		case "volume_simpson_mm3":
			st.VolumeSimpson = val
		case "volume_spline_mm3":
			st.VolumeSpline = val
		}
	})
	return st
}

// firstNumber returns the first of vs that is a JSON number (the "X, else Y" rules of §1.8).
func firstNumber(vs ...[]byte) *float64 {
	for _, v := range vs {
		if f := optNumber(v); f != nil {
			return f
		}
	}
	return nil
}

func firstString(vs ...[]byte) *string {
	for _, v := range vs {
		if s := optString(v); s != nil {
			return s
		}
	}
	return nil
}

func firstPresent(vs ...[]byte) []byte {
	for _, v := range vs {
		if !isAbsent(v) {
			return v
		}
	}
	return nil
}

// defectCount is the number of ToF defects: array length, or entries of the object form.
func defectCount(v []byte) *int32 {
	var n int32
	switch {
	case isArray(v):
		eachElement(v, func(int, []byte) bool { n++; return true })
	case isObject(v):
		eachMember(v, func(string, []byte) { n++ })
	default:
		return nil
	}
	return &n
}

func processingTimeMS(v []byte) *float64 {
	f := optNumber(v)
	if f == nil {
		return nil
	}
	ms := *f * 1000
	return &ms
}

// matrixJSON renders an adapted matrix as compact JSON ([[95,95,...],...]).
func matrixJSON(m Matrix) []byte {
	b := make([]byte, 0, 8*8*4+20)
	return appendMatrix(b, m)
}

func appendMatrix(b []byte, m Matrix) []byte {
	b = append(b, '[')
	for i, row := range m {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, x := range row {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendInt(b, x)
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

func appendInt(b []byte, x int) []byte {
	if x >= 0 && x < 10 {
		return append(b, byte('0'+x))
	}
	var tmp [20]byte
	i := len(tmp)
	neg := x < 0
	if neg {
		x = -x
	}
	for x > 0 {
		i--
		tmp[i] = byte('0' + x%10)
		x /= 10
	}
	if neg {
		i--
		tmp[i] = '-'
	}
	return append(b, tmp[i:]...)
}

// channelsJSON renders the 10 channels as the stored/broadcast object (contract order).
func channelsJSON(c *Channels) []byte {
	b, _ := json.Marshal(channelsObject(c))
	return b
}

// channelsObject is Channels with its JSON names, in order.
type channelsWire struct {
	F1 int64 `json:"F1_415nm"`
	F2 int64 `json:"F2_445nm"`
	F3 int64 `json:"F3_480nm"`
	F4 int64 `json:"F4_515nm"`
	F5 int64 `json:"F5_555nm"`
	F6 int64 `json:"F6_590nm"`
	F7 int64 `json:"F7_630nm"`
	F8 int64 `json:"F8_680nm"`
	C  int64 `json:"Clear"`
	N  int64 `json:"NIR"`
}

func channelsObject(c *Channels) channelsWire {
	return channelsWire{c.F1_415nm, c.F2_445nm, c.F3_480nm, c.F4_515nm, c.F5_555nm,
		c.F6_590nm, c.F7_630nm, c.F8_680nm, c.Clear, c.NIR}
}

// foieGras holds the fusion.foie_gras_metrics values that have columns.
type foieGras struct{ LobeThickness, LStar, DeltaE *float64 }

func parseFoieGras(v []byte) foieGras {
	var fg foieGras
	if !isObject(v) {
		return fg
	}
	eachMember(v, func(k string, val []byte) {
		switch k {
		case "lobe_thickness_mm":
			fg.LobeThickness = optNumber(val)
		case "l_star":
			fg.LStar = optNumber(val)
		case "delta_e":
			fg.DeltaE = optNumber(val)
		}
	})
	return fg
}
