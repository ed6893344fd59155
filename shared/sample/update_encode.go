package sample

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// The sensor_update message is built for every stored sample. encoding/json re-scans
// and compacts every json.RawMessage it writes (~10 KB of pass-through values per
// message), so the message is appended by hand: raw values are copied verbatim (they
// come from a validated frame), numbers are formatted like encoding/json.
// TestUpdateEncodingMatchesEncodingJSON keeps both in step.

// AppendJSON appends the message to b.
func (u *SensorUpdate) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, u.Type)
	b = append(b, `,"timestamp":`...)
	b = appendString(b, u.Timestamp)
	b = append(b, `,"sample_id":`...)
	b = appendString(b, u.SampleID)
	b = append(b, `,"device_id":`...)
	b = appendString(b, u.DeviceID)

	r := &u.VL53.Raw
	b = append(b, `,"vl53l8ch":{"raw":{"distance_matrix":`...)
	b = appendMatrix(b, r.DistanceMatrix)
	b = append(b, `,"reflectance_matrix":`...)
	b = appendMatrix(b, r.ReflectanceMatrix)
	b = append(b, `,"amplitude_matrix":`...)
	b = appendMatrix(b, r.AmplitudeMatrix)
	b = append(b, `,"status_matrix":`...)
	b = appendMatrix(b, r.StatusMatrix)
	b = append(b, `,"ambient_matrix":`...)
	b = appendMatrix(b, r.AmbientMatrix)
	b = append(b, `,"meta":`...)
	b = appendRaw(b, r.Meta)

	a := &u.VL53.Analysis
	b = append(b, `},"analysis":{"volume_mm3":`...)
	b = appendFloat(b, a.VolumeMM3)
	b = append(b, `,"surface_uniformity":`...)
	b = appendFloat(b, a.SurfaceUniformity)
	b = append(b, `,"quality_score":`...)
	b = appendFloat(b, a.QualityScore)
	b = append(b, `,"grade":`...)
	b = appendString(b, a.Grade)
	b = append(b, `,"avg_distance_mm":`...)
	b = appendFloat(b, a.AvgDistanceMM)
	b = append(b, `,"std_distance_mm":`...)
	b = appendOptFloat(b, a.StdDistanceMM)
	b = append(b, `,"avg_reflectance":`...)
	b = appendOptFloat(b, a.AvgReflectance)
	for _, kv := range []struct {
		k string
		v json.RawMessage
	}{
		{"bins_analysis", a.BinsAnalysis}, {"reflectance_analysis", a.ReflectanceAnalysis},
		{"amplitude_consistency", a.AmplitudeConsistency}, {"score_breakdown", a.ScoreBreakdown},
		{"stats", a.Stats}, {"defects", a.Defects}, {"volume_trapezoidal_mm3", a.VolumeTrapezoidalMM3},
		{"volume_simpson_mm3", a.VolumeSimpsonMM3}, {"volume_spline_mm3", a.VolumeSplineMM3},
	} {
		b = appendKeyRaw(b, kv.k, kv.v)
	}

	ch := &u.AS7341.Raw
	b = append(b, `}},"as7341":{"raw":{`...)
	for i, v := range [10]int64{ch.F1, ch.F2, ch.F3, ch.F4, ch.F5, ch.F6, ch.F7, ch.F8, ch.C, ch.N} {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, channelNames[i]...)
		b = append(b, `":`...)
		b = strconv.AppendInt(b, v, 10)
	}
	sa := &u.AS7341.Analysis
	b = append(b, `},"analysis":{"freshness_index":`...)
	b = appendFloat(b, sa.FreshnessIndex)
	b = append(b, `,"fat_quality_index":`...)
	b = appendFloat(b, sa.FatQualityIndex)
	b = append(b, `,"oxidation_index":`...)
	b = appendFloat(b, sa.OxidationIndex)
	b = append(b, `,"quality_score":`...)
	b = appendFloat(b, sa.QualityScore)
	b = append(b, `,"ratio_red_nir":`...)
	b = appendOptFloat(b, sa.RatioRedNIR)
	b = append(b, `,"ratio_clear_nir":`...)
	b = appendOptFloat(b, sa.RatioClearNIR)
	for _, kv := range []struct {
		k string
		v json.RawMessage
	}{
		{"channels", sa.Channels}, {"spectral_ratios", sa.SpectralRatios}, {"quality_metrics", sa.QualityMetrics},
		{"color_uniformity", sa.ColorUniformity}, {"defects", sa.Defects},
	} {
		b = appendKeyRaw(b, kv.k, kv.v)
	}
	b = append(b, `,"grade":`...)
	b = appendOptString(b, sa.Grade)

	f := &u.Fusion
	b = append(b, `}},"fusion":{"final_score":`...)
	b = appendFloat(b, f.FinalScore)
	b = append(b, `,"final_grade":`...)
	b = appendString(b, f.FinalGrade)
	b = append(b, `,"is_compliant":`...)
	b = strconv.AppendBool(b, f.IsCompliant)
	b = append(b, `,"weight_tof":`...)
	b = appendFloat(b, f.WeightToF)
	b = append(b, `,"weight_spectral":`...)
	b = appendFloat(b, f.WeightSpectral)
	b = append(b, `,"confidence_level":`...)
	b = appendOptFloat(b, f.ConfidenceLevel)
	for _, kv := range []struct {
		k string
		v json.RawMessage
	}{
		{"tof_score", f.TofScore}, {"spectral_score", f.SpectralScore}, {"tof_contribution", f.TofContribution},
		{"spectral_contribution", f.SpectralContribution}, {"combined_defects", f.CombinedDefects},
		{"num_defects", f.NumDefects}, {"metrics", f.Metrics}, {"foie_gras_metrics", f.FoieGrasMetrics},
		{"vl53l8ch_grade", f.VL53Grade}, {"vl53l8ch_score", f.VL53Score}, {"as7341_grade", f.AS7341Grade},
		{"as7341_score", f.AS7341Score}, {"defects", f.Defects},
	} {
		b = appendKeyRaw(b, kv.k, kv.v)
	}

	bc := &u.Blockchain
	b = append(b, `},"blockchain":{"blockchain_hash":`...)
	b = appendOptString(b, bc.BlockchainHash)
	b = append(b, `,"blockchain_timestamp":`...)
	b = appendOptString(b, bc.BlockchainTimestamp)
	b = appendKeyRaw(b, "lot_abattage", bc.LotAbattage)
	b = appendKeyRaw(b, "eleveur", bc.Eleveur)
	b = appendKeyRaw(b, "provenance", bc.Provenance)
	b = append(b, `,"qr_code_base64":`...)
	b = appendOptString(b, bc.QRCodeBase64)
	return append(b, "}}"...)
}

func appendKeyRaw(b []byte, k string, v json.RawMessage) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, `":`...)
	return appendRaw(b, v)
}

func appendRaw(b []byte, v json.RawMessage) []byte {
	if len(v) == 0 {
		return append(b, "null"...)
	}
	return append(b, v...)
}

// appendString writes s as a JSON string; plain ASCII goes straight through.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendOptString(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendFloat formats like encoding/json (shortest representation, exponent outside
// [1e-6, 1e21)). Values are finite: they come from validated JSON numbers.
func appendFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func appendOptFloat(b []byte, f *float64) []byte {
	if f == nil {
		return append(b, "null"...)
	}
	return appendFloat(b, *f)
}

// EventJSON encodes the sqal.sample.stored data for this sample with update (the
// encoded sensor_update) spliced in verbatim instead of being re-scanned.
func (s *Sample) EventJSON(update []byte) ([]byte, error) {
	e := s.Event(nil)
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode stored event %s: %w", s.SampleID, err)
	}
	// SensorUpdate is StoredEvent's last field, so the document ends with it.
	const tail = `"sensor_update":null}`
	if !bytes.HasSuffix(b, []byte(tail)) {
		return nil, fmt.Errorf("encode stored event %s: sensor_update is not the last field", s.SampleID)
	}
	out := make([]byte, 0, len(b)+len(update))
	out = append(out, b[:len(b)-len(`null}`)]...)
	out = append(out, update...)
	return append(out, '}'), nil
}
