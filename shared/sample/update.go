package sample

import (
	"encoding/json"
	"time"
)

// TimeLayout is how the ingest writes datetimes (contract §0.1): UTC, explicit offset,
// microseconds.
const TimeLayout = "2006-01-02T15:04:05.000000-07:00"

// FormatTime renders t in TimeLayout, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// SensorUpdate is the /ws/realtime/ "sensor_update" message of a newly stored sample
// (contract §4.5). Struct field order is the wire key order; json.RawMessage members are
// the frame's values as received (<in>), null when absent.
type SensorUpdate struct {
	Type       string           `json:"type"`
	Timestamp  string           `json:"timestamp"`
	SampleID   string           `json:"sample_id"`
	DeviceID   string           `json:"device_id"`
	VL53       UpdateToF        `json:"vl53l8ch"`
	AS7341     UpdateSpectral   `json:"as7341"`
	Fusion     UpdateFusion     `json:"fusion"`
	Blockchain UpdateBlockchain `json:"blockchain"`
}

// UpdateToF is sensor_update.vl53l8ch.
type UpdateToF struct {
	Raw struct {
		DistanceMatrix    Matrix          `json:"distance_matrix"`
		ReflectanceMatrix Matrix          `json:"reflectance_matrix"`
		AmplitudeMatrix   Matrix          `json:"amplitude_matrix"`
		StatusMatrix      Matrix          `json:"status_matrix"`
		AmbientMatrix     Matrix          `json:"ambient_matrix"`
		Meta              json.RawMessage `json:"meta"` // {"user_guide": …} or null
	} `json:"raw"`
	Analysis struct {
		VolumeMM3            float64         `json:"volume_mm3"`
		SurfaceUniformity    float64         `json:"surface_uniformity"`
		QualityScore         float64         `json:"quality_score"`
		Grade                string          `json:"grade"`
		AvgDistanceMM        float64         `json:"avg_distance_mm"`
		StdDistanceMM        *float64        `json:"std_distance_mm"`
		AvgReflectance       *float64        `json:"avg_reflectance"`
		BinsAnalysis         json.RawMessage `json:"bins_analysis"`
		ReflectanceAnalysis  json.RawMessage `json:"reflectance_analysis"`
		AmplitudeConsistency json.RawMessage `json:"amplitude_consistency"`
		ScoreBreakdown       json.RawMessage `json:"score_breakdown"`
		Stats                json.RawMessage `json:"stats"`
		Defects              json.RawMessage `json:"defects"`
		VolumeTrapezoidalMM3 json.RawMessage `json:"volume_trapezoidal_mm3"`
		VolumeSimpsonMM3     json.RawMessage `json:"volume_simpson_mm3"`
		VolumeSplineMM3      json.RawMessage `json:"volume_spline_mm3"`
	} `json:"analysis"`
}

// UpdateSpectral is sensor_update.as7341.
type UpdateSpectral struct {
	Raw      channelsWire `json:"raw"`
	Analysis struct {
		FreshnessIndex  float64         `json:"freshness_index"`
		FatQualityIndex float64         `json:"fat_quality_index"`
		OxidationIndex  float64         `json:"oxidation_index"`
		QualityScore    float64         `json:"quality_score"`
		RatioRedNIR     *float64        `json:"ratio_red_nir"`
		RatioClearNIR   *float64        `json:"ratio_clear_nir"`
		Channels        json.RawMessage `json:"channels"` // always null (legacy)
		SpectralRatios  json.RawMessage `json:"spectral_ratios"`
		QualityMetrics  json.RawMessage `json:"quality_metrics"`
		ColorUniformity json.RawMessage `json:"color_uniformity"`
		Defects         json.RawMessage `json:"defects"`
		Grade           *string         `json:"grade"`
	} `json:"analysis"`
}

// UpdateFusion is sensor_update.fusion.
type UpdateFusion struct {
	FinalScore           float64         `json:"final_score"`
	FinalGrade           string          `json:"final_grade"`
	IsCompliant          bool            `json:"is_compliant"`
	WeightToF            float64         `json:"weight_tof"`
	WeightSpectral       float64         `json:"weight_spectral"`
	ConfidenceLevel      *float64        `json:"confidence_level"`
	TofScore             json.RawMessage `json:"tof_score"`
	SpectralScore        json.RawMessage `json:"spectral_score"`
	TofContribution      json.RawMessage `json:"tof_contribution"`
	SpectralContribution json.RawMessage `json:"spectral_contribution"`
	CombinedDefects      json.RawMessage `json:"combined_defects"`
	NumDefects           json.RawMessage `json:"num_defects"`
	Metrics              json.RawMessage `json:"metrics"`
	FoieGrasMetrics      json.RawMessage `json:"foie_gras_metrics"`
	VL53Grade            json.RawMessage `json:"vl53l8ch_grade"`
	VL53Score            json.RawMessage `json:"vl53l8ch_score"`
	AS7341Grade          json.RawMessage `json:"as7341_grade"`
	AS7341Score          json.RawMessage `json:"as7341_score"`
	Defects              json.RawMessage `json:"defects"`
}

// UpdateBlockchain is sensor_update.blockchain: hash, time and QR are produced later by
// the traceability step, so they are null when ingest builds the message.
type UpdateBlockchain struct {
	BlockchainHash      *string         `json:"blockchain_hash"`
	BlockchainTimestamp *string         `json:"blockchain_timestamp"`
	LotAbattage         json.RawMessage `json:"lot_abattage"`
	Eleveur             json.RawMessage `json:"eleveur"`
	Provenance          json.RawMessage `json:"provenance"`
	QRCodeBase64        *string         `json:"qr_code_base64"`
}

var (
	jsonEmptyArray = json.RawMessage("[]")
	jsonZero       = json.RawMessage("0")
)

// orNull keeps a present value; absent becomes JSON null.
func orNull(v []byte) json.RawMessage {
	if len(v) == 0 {
		return nil
	}
	return v
}

// orDefault keeps a present, non-null value; absent or null becomes def.
func orDefault(v []byte, def json.RawMessage) json.RawMessage {
	if isAbsent(v) {
		return def
	}
	return v
}

// Update builds the sensor_update message value.
func (s *Sample) Update() *SensorUpdate {
	u := &SensorUpdate{
		Type:      "sensor_update",
		Timestamp: FormatTime(s.Timestamp),
		SampleID:  s.SampleID,
		DeviceID:  s.DeviceID,
	}
	vl, as, fu, w := &s.vl, &s.as, &s.fu, &s.Frame.w

	r := &u.VL53.Raw
	r.DistanceMatrix, r.ReflectanceMatrix, r.AmplitudeMatrix = s.ToF.DistanceMatrix, s.ToF.ReflectanceMatrix, s.ToF.AmplitudeMatrix
	r.StatusMatrix, r.AmbientMatrix = s.ToF.StatusMatrix, s.ToF.AmbientMatrix
	// The simulator puts the tooltips under vl53l8ch_raw.meta.user_guide (legacy looked
	// elsewhere and always sent null).
	if ug := member(member(w.VL53Raw, "meta"), "user_guide"); !isAbsent(ug) {
		r.Meta = append(append([]byte(`{"user_guide":`), ug...), '}')
	}

	a := &u.VL53.Analysis
	a.VolumeMM3, a.SurfaceUniformity, a.QualityScore, a.Grade = s.ToF.VolumeMM3, s.ToF.SurfaceUniformity, s.ToF.QualityScore, s.ToF.Grade
	a.AvgDistanceMM, a.StdDistanceMM, a.AvgReflectance = s.ToF.AvgDistanceMM, s.ToF.StdDistanceMM, s.ToF.AvgReflectance
	a.BinsAnalysis, a.ReflectanceAnalysis = orNull(vl.BinsAnalysis), orNull(vl.ReflectanceAnalysis)
	a.AmplitudeConsistency, a.ScoreBreakdown, a.Stats = orNull(vl.AmplitudeConsistency), orNull(vl.ScoreBreakdown), orNull(vl.Stats)
	a.Defects = updateDefects(vl.Defects)
	st := parseStats(vl.Stats)
	a.VolumeTrapezoidalMM3, a.VolumeSimpsonMM3, a.VolumeSplineMM3 = orNull(st.VolumeTrapezoidal), orNull(st.VolumeSimpson), orNull(st.VolumeSpline)

	sp := &u.AS7341
	sp.Raw = channelsObject(&s.Spectral.Channels)
	sa := &sp.Analysis
	sa.FreshnessIndex, sa.FatQualityIndex = s.Spectral.FreshnessIndex, s.Spectral.FatQualityIndex
	sa.OxidationIndex, sa.QualityScore = s.Spectral.OxidationIndex, s.Spectral.QualityScore
	sa.RatioRedNIR, sa.RatioClearNIR = s.Spectral.RatioRedNIR, s.Spectral.RatioClearNIR
	sa.SpectralRatios, sa.QualityMetrics, sa.ColorUniformity = orNull(as.SpectralRatios), orNull(as.QualityMetrics), orNull(as.ColorUniformity)
	sa.Defects = orDefault(as.Defects, jsonEmptyArray)
	sa.Grade = s.Spectral.Grade

	f := &u.Fusion
	f.FinalScore, f.FinalGrade, f.IsCompliant = s.Fusion.FinalScore, s.Fusion.FinalGrade, s.Fusion.IsCompliant
	f.WeightToF, f.WeightSpectral, f.ConfidenceLevel = s.Fusion.WeightToF, s.Fusion.WeightSpectral, s.Fusion.ConfidenceLevel
	f.TofScore, f.SpectralScore = orNull(fu.TofScore), orNull(fu.SpectralScore)
	f.TofContribution, f.SpectralContribution = orNull(fu.TofContribution), orNull(fu.SpectralContribution)
	f.CombinedDefects, f.NumDefects = orDefault(fu.CombinedDefects, jsonEmptyArray), orDefault(fu.NumDefects, jsonZero)
	f.Metrics, f.FoieGrasMetrics = orNull(fu.Metrics), orNull(fu.FoieGrasMetrics)
	f.VL53Grade, f.VL53Score, f.AS7341Grade, f.AS7341Score = orNull(fu.VL53Grade), orNull(fu.VL53Score), orNull(fu.AS7341Grade), orNull(fu.AS7341Score)
	f.Defects = orNull(fu.Defects)

	b := &u.Blockchain
	b.LotAbattage, b.Eleveur, b.Provenance = orNull(w.LotAbattage), orNull(w.Eleveur), orNull(w.Provenance)
	if s.SealHash != nil && s.SealTime != nil {
		ts := FormatTime(*s.SealTime)
		b.BlockchainHash, b.BlockchainTimestamp = s.SealHash, &ts
	}
	return u
}

// updateDefects is vl53l8ch.defects for sensor_update: an array as received; the object
// form {type: {position|pos, severity, description}} becomes
// [{type, pos, x: pos[1], y: pos[0], severity, description}]; anything else [].
func updateDefects(v []byte) json.RawMessage {
	switch {
	case isArray(v):
		return v
	case !isObject(v):
		return jsonEmptyArray
	}
	type item struct {
		Type        string          `json:"type"`
		Pos         json.RawMessage `json:"pos"`
		X           json.RawMessage `json:"x"`
		Y           json.RawMessage `json:"y"`
		Severity    json.RawMessage `json:"severity"`
		Description json.RawMessage `json:"description"`
	}
	items := []item{}
	eachMember(v, func(k string, d []byte) {
		it := item{Type: k}
		var pos, posAlt []byte
		eachMember(d, func(dk string, dv []byte) {
			switch dk {
			case "position":
				pos = dv
			case "pos":
				posAlt = dv
			case "severity":
				it.Severity = dv
			case "description":
				it.Description = dv
			}
		})
		if isAbsent(pos) {
			pos = posAlt
		}
		it.Pos = orNull(pos)
		if isArray(pos) {
			eachElement(pos, func(i int, e []byte) bool {
				switch i {
				case 0:
					it.Y = e
				case 1:
					it.X = e
				}
				return i < 1
			})
		}
		items = append(items, it)
	})
	out, err := json.Marshal(items)
	if err != nil {
		return jsonEmptyArray
	}
	return out
}

// UpdateJSON is the encoded sensor_update message (see AppendJSON).
func (s *Sample) UpdateJSON() ([]byte, error) {
	return s.Update().AppendJSON(make([]byte, 0, 16<<10)), nil
}

// Event returns the data of the sqal.sample.stored event; update is UpdateJSON's result.
func (s *Sample) Event(update []byte) StoredEvent {
	volume := s.ToF.VolumeMM3
	return StoredEvent{
		SampleID:             s.SampleID,
		DeviceID:             s.DeviceID,
		Timestamp:            s.Timestamp,
		SiteCode:             s.SiteCode,
		LotID:                s.LotID,
		CodeLot:              s.CodeLot,
		FinalScore:           s.Fusion.FinalScore,
		FinalGrade:           s.Fusion.FinalGrade,
		IsCompliant:          s.Fusion.IsCompliant,
		ToFQualityScore:      s.ToF.QualityScore,
		SpectralQualityScore: s.Spectral.QualityScore,
		FreshnessIndex:       s.Spectral.FreshnessIndex,
		FatQualityIndex:      s.Spectral.FatQualityIndex,
		OxidationIndex:       s.Spectral.OxidationIndex,
		VolumeMM3:            &volume,
		AvgHeightMM:          s.vl.averageHeight(parseStats(s.vl.Stats)),
		SensorUpdate:         update,
	}
}
