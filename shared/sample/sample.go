package sample

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ValidationError is a frame that breaks a rule of contract §1.6; nothing of it is
// stored. Field is the dotted path of the offending value ("fusion.final_score").
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return "validation failed: " + e.Field + ": " + e.Reason
}

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// errMustBe is a reason without a field; callers attach the field.
type reasonError string

func (e reasonError) Error() string { return string(e) }
func errMustBe(what string) error   { return reasonError("must be " + what) }

// Matrix is an adapted 8-column matrix of the time-of-flight sensor (rounded, clamped).
type Matrix [][]int

// Channels are the 10 AS7341 channels, in the contract's order.
type Channels struct {
	F1_415nm, F2_445nm, F3_480nm, F4_515nm, F5_555nm int64
	F6_590nm, F7_630nm, F8_680nm, Clear, NIR         int64
}

// ToF is the adapted time-of-flight block (vl53l8ch).
type ToF struct {
	DistanceMatrix, ReflectanceMatrix, AmplitudeMatrix Matrix // 8x8
	StatusMatrix, AmbientMatrix                        Matrix // 0-8 rows of 8 ([] when absent)
	VolumeMM3                                          float64
	SurfaceUniformity                                  float64
	QualityScore                                       float64
	Grade                                              string // normalised
	AvgDistanceMM                                      float64
	StdDistanceMM                                      *float64
	AvgReflectance                                     *float64
}

// Spectral is the adapted spectral block (as7341).
type Spectral struct {
	Channels        Channels
	FreshnessIndex  float64
	FatQualityIndex float64
	OxidationIndex  float64
	QualityScore    float64
	RatioRedNIR     *float64
	RatioClearNIR   *float64
	Grade           *string // normalised; nil when absent or unrecognised
}

// Fusion is the adapted fusion block.
type Fusion struct {
	FinalScore      float64
	FinalGrade      string // normalised
	IsCompliant     bool   // sent, else FinalGrade != REJECT
	WeightToF       float64
	WeightSpectral  float64
	ConfidenceLevel *float64
}

// Sample is a validated, adapted sensor_data frame with its derived values.
type Sample struct {
	Frame *Frame // the frame it came from (Raw is what raw_message stores)

	SampleID  string
	DeviceID  string
	Timestamp time.Time // UTC, microseconds

	LotID    *int64
	CodeLot  *string
	SiteCode *string // frame site_code verbatim, else derived (§1.6.4); nil when none
	// FirmwareVersion is the top-level firmware_version, else meta.firmware_version.
	FirmwareVersion *string
	ConfigProfile   *string // meta.config_profile

	ToF      ToF
	Spectral Spectral
	Fusion   Fusion

	// PoidsFoieEstimeG = round(vl53l8ch.volume_mm3 / 1000 x 0.947, 1), half to even.
	PoidsFoieEstimeG float64

	// SealHash and SealTime are the integrity seal (see Seal); nil until sealed.
	SealHash *string
	SealTime *time.Time

	vl   wireToF
	as   wireSpectral
	fu   wireFusion
	meta wireMeta
}

// Weight estimate: liver density 0.947 g/cm³ (contract §1.6.4).
const liverDensity = 0.947

// Sample validates and adapts the frame (contract §1.6) and computes the derived values.
// A rule violation is a *ValidationError naming the field.
func (f *Frame) Sample() (*Sample, error) {
	s := &Sample{Frame: f}
	w := &f.w
	var err error

	if s.SampleID, err = requiredString(w.SampleID, "sample_id", 100); err != nil {
		return nil, err
	}
	if s.DeviceID, err = requiredString(w.DeviceID, "device_id", 100); err != nil {
		return nil, err
	}
	ts, terr := parseTimestamp(w.Timestamp)
	switch {
	case terr != nil:
		return nil, invalid("timestamp", "%v", terr)
	case ts == nil:
		return nil, invalid("timestamp", "field required")
	}
	s.Timestamp = *ts

	if err := s.adaptToF(w.VL53); err != nil {
		return nil, err
	}
	if err := s.adaptSpectral(w.AS7341); err != nil {
		return nil, err
	}
	if err := s.adaptFusion(w.Fusion); err != nil {
		return nil, err
	}
	if err := s.adaptTopLevel(w); err != nil {
		return nil, err
	}

	s.PoidsFoieEstimeG = math.RoundToEven(s.ToF.VolumeMM3/1000*liverDensity*10) / 10
	return s, nil
}

func requiredString(v []byte, field string, maxLen int) (string, error) {
	if isAbsent(v) {
		return "", invalid(field, "field required")
	}
	str, ok := rawString(v)
	if !ok {
		return "", invalid(field, "must be a string, not %s", jsonKind(v))
	}
	if n := runeLen(str); n < 1 || n > maxLen {
		return "", invalid(field, "must have 1 to %d characters, has %d", maxLen, n)
	}
	return str, nil
}

func requireObject(v []byte, field string) error {
	if isAbsent(v) {
		return invalid(field, "field required")
	}
	if !isObject(v) {
		return invalid(field, "must be an object, not %s", jsonKind(v))
	}
	return nil
}

// requiredNumber reads a required number within [lo, hi] (NaN bounds = unbounded).
func requiredNumber(v []byte, field string, lo, hi float64) (float64, error) {
	if isAbsent(v) {
		return 0, invalid(field, "field required")
	}
	x, err := number(v, field, lo, hi)
	if err != nil {
		return 0, err
	}
	return *x, nil
}

// optionalNumber reads an optional number (null = absent) within [lo, hi].
func optionalNumber(v []byte, field string, lo, hi float64) (*float64, error) {
	if isAbsent(v) {
		return nil, nil
	}
	return number(v, field, lo, hi)
}

func number(v []byte, field string, lo, hi float64) (*float64, error) {
	x, ok := rawNumber(v)
	if !ok {
		if isNumber(v) {
			return nil, invalid(field, "number out of range")
		}
		return nil, invalid(field, "must be a number, not %s", jsonKind(v))
	}
	if !math.IsNaN(lo) && x < lo {
		return nil, invalid(field, "must be >= %s", fmtBound(lo))
	}
	if !math.IsNaN(hi) && x > hi {
		return nil, invalid(field, "must be <= %s", fmtBound(hi))
	}
	return &x, nil
}

func fmtBound(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

var unbounded = math.NaN()

// optionalString reads an optional string (null = absent); a number etc. is an error.
func optionalString(v []byte, field string) (*string, error) {
	if isAbsent(v) {
		return nil, nil
	}
	s, ok := rawString(v)
	if !ok {
		return nil, invalid(field, "must be a string, not %s", jsonKind(v))
	}
	return &s, nil
}

// matrixRule is one row of the §1.6.1 table.
type matrixRule struct {
	key      string
	required bool
	max      int
}

var matrixRules = [5]matrixRule{
	{"distance_matrix", true, 4000},
	{"reflectance_matrix", true, 255},
	{"amplitude_matrix", true, 4095},
	{"status_matrix", false, 255},
	{"ambient_matrix", false, 4095},
}

// adaptMatrix rounds (half to even, as legacy) and clamps a matrix. Required matrices
// are exactly 8x8; optional ones have 0-8 rows of exactly 8 (legacy quirk).
func adaptMatrix(v []byte, field string, rule matrixRule) (Matrix, error) {
	if isAbsent(v) {
		if rule.required {
			return nil, invalid(field, "field required")
		}
		return Matrix{}, nil
	}
	if !isArray(v) {
		return nil, invalid(field, "must be an array of rows, not %s", jsonKind(v))
	}
	m := make(Matrix, 0, 8)
	var ferr error
	eachElement(v, func(r int, row []byte) bool {
		if !isArray(row) {
			ferr = invalid(fmt.Sprintf("%s[%d]", field, r), "must be an array of 8 numbers, not %s", jsonKind(row))
			return false
		}
		if r >= 8 {
			ferr = invalid(field, "must have %s8 rows", map[bool]string{true: "", false: "at most "}[rule.required])
			return false
		}
		out := make([]int, 0, 8)
		eachElement(row, func(c int, cell []byte) bool {
			x, ok := rawNumber(cell)
			if !ok {
				if isNumber(cell) { // beyond float64: clamp like any out-of-range value
					x, ok = math.Inf(1), true
					if cell[0] == '-' {
						x = math.Inf(-1)
					}
				} else {
					ferr = invalid(fmt.Sprintf("%s[%d][%d]", field, r, c), "must be a number, not %s", jsonKind(cell))
					return false
				}
			}
			if c >= 8 {
				ferr = invalid(fmt.Sprintf("%s[%d]", field, r), "must have 8 values")
				return false
			}
			x = math.RoundToEven(x)
			switch {
			case x < 0:
				x = 0
			case x > float64(rule.max):
				x = float64(rule.max)
			}
			out = append(out, int(x))
			return true
		})
		if ferr != nil {
			return false
		}
		if len(out) != 8 {
			ferr = invalid(fmt.Sprintf("%s[%d]", field, r), "must have 8 values, has %d", len(out))
			return false
		}
		m = append(m, out)
		return true
	})
	if ferr != nil {
		return nil, ferr
	}
	if rule.required && len(m) != 8 {
		return nil, invalid(field, "must have 8 rows, has %d", len(m))
	}
	return m, nil
}

// eachElement calls fn for every element of the JSON array arr until fn returns false.
func eachElement(arr []byte, fn func(i int, v []byte) bool) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return
	}
	i++
	for n := 0; ; n++ {
		i = skipSpace(arr, i)
		if i >= len(arr) || arr[i] == ']' {
			return
		}
		end := skipValue(arr, i)
		if !fn(n, arr[i:end]) {
			return
		}
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i++
		}
	}
}

// wireToF holds the members of vl53l8ch the ingest reads.
type wireToF struct {
	Raw, Analysis                                         []byte
	Matrices                                              [5][]byte // in matrixRules order
	VolumeMM3, SurfaceUniformity, QualityScore, Grade     []byte
	AvgDistanceMM, StdDistanceMM, AvgReflectance          []byte
	AverageHeightMM, MaxHeightMM, MinHeightMM, BaseAreaMM []byte
	Stats, BinsAnalysis, ReflectanceAnalysis              []byte
	AmplitudeConsistency, ScoreBreakdown, Defects         []byte
	ProcessingTimeS                                       []byte
}

func (s *Sample) adaptToF(v []byte) error {
	if err := requireObject(v, "vl53l8ch"); err != nil {
		return err
	}
	w := &s.vl
	eachMember(v, func(k string, val []byte) {
		switch k {
		case "raw":
			w.Raw = val
		case "analysis":
			w.Analysis = val
		case "distance_matrix":
			w.Matrices[0] = val
		case "reflectance_matrix":
			w.Matrices[1] = val
		case "amplitude_matrix":
			w.Matrices[2] = val
		case "status_matrix":
			w.Matrices[3] = val
		case "ambient_matrix":
			w.Matrices[4] = val
		case "volume_mm3":
			w.VolumeMM3 = val
		case "surface_uniformity":
			w.SurfaceUniformity = val
		case "quality_score":
			w.QualityScore = val
		case "grade":
			w.Grade = val
		case "avg_distance_mm":
			w.AvgDistanceMM = val
		case "std_distance_mm":
			w.StdDistanceMM = val
		case "avg_reflectance":
			w.AvgReflectance = val
		case "average_height_mm":
			w.AverageHeightMM = val
		case "max_height_mm":
			w.MaxHeightMM = val
		case "min_height_mm":
			w.MinHeightMM = val
		case "base_area_mm2":
			w.BaseAreaMM = val
		case "stats":
			w.Stats = val
		case "bins_analysis":
			w.BinsAnalysis = val
		case "reflectance_analysis":
			w.ReflectanceAnalysis = val
		case "amplitude_consistency":
			w.AmplitudeConsistency = val
		case "score_breakdown":
			w.ScoreBreakdown = val
		case "defects":
			w.Defects = val
		case "processing_time_s":
			w.ProcessingTimeS = val
		}
	})
	// Only the flat simulator form is accepted (legacy adapted it into raw/analysis
	// itself and rejected frames that came pre-split).
	if w.Raw != nil || w.Analysis != nil {
		return invalid("vl53l8ch", "nested raw/analysis form is not accepted; send the flat form")
	}
	t := &s.ToF
	mats := [5]*Matrix{&t.DistanceMatrix, &t.ReflectanceMatrix, &t.AmplitudeMatrix, &t.StatusMatrix, &t.AmbientMatrix}
	for i, rule := range matrixRules {
		m, err := adaptMatrix(w.Matrices[i], "vl53l8ch."+rule.key, rule)
		if err != nil {
			return err
		}
		*mats[i] = m
	}
	var err error
	if t.VolumeMM3, err = requiredNumber(w.VolumeMM3, "vl53l8ch.volume_mm3", 0, unbounded); err != nil {
		return err
	}
	if t.SurfaceUniformity, err = requiredNumber(w.SurfaceUniformity, "vl53l8ch.surface_uniformity", 0, 1); err != nil {
		return err
	}
	if t.QualityScore, err = requiredNumber(w.QualityScore, "vl53l8ch.quality_score", 0, 1); err != nil {
		return err
	}
	if t.Grade, err = requiredGrade(w.Grade, "vl53l8ch.grade"); err != nil {
		return err
	}
	avg, err := optionalNumber(w.AvgDistanceMM, "vl53l8ch.avg_distance_mm", unbounded, unbounded)
	if err != nil {
		return err
	}
	std, err := optionalNumber(w.StdDistanceMM, "vl53l8ch.std_distance_mm", unbounded, unbounded)
	if err != nil {
		return err
	}
	if t.AvgReflectance, err = optionalNumber(w.AvgReflectance, "vl53l8ch.avg_reflectance", unbounded, unbounded); err != nil {
		return err
	}
	if avg != nil {
		t.AvgDistanceMM, t.StdDistanceMM = *avg, std
	} else {
		// Legacy computed both from the adapted matrix and overwrote a sent std.
		mean, sd := meanStd(t.DistanceMatrix)
		t.AvgDistanceMM, t.StdDistanceMM = mean, &sd
	}
	return nil
}

// meanStd is the mean and population standard deviation of a matrix.
func meanStd(m Matrix) (mean, std float64) {
	var sum float64
	n := 0
	for _, row := range m {
		for _, x := range row {
			sum += float64(x)
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	mean = sum / float64(n)
	var sq float64
	for _, row := range m {
		for _, x := range row {
			d := float64(x) - mean
			sq += d * d
		}
	}
	return mean, math.Sqrt(sq / float64(n))
}

func requiredGrade(v []byte, field string) (string, error) {
	if isAbsent(v) {
		return "", invalid(field, "field required")
	}
	label, ok := rawString(v)
	if !ok {
		return "", invalid(field, "must be a string, not %s", jsonKind(v))
	}
	g, ok := NormalizeGrade(label)
	if !ok {
		return "", invalid(field, "unrecognised grade %q (expected A+, A, B, C or REJECT)", label)
	}
	return g, nil
}

// wireSpectral holds the members of as7341 the ingest reads.
type wireSpectral struct {
	Channels                                                      []byte
	FreshnessIndex, FatQualityIndex, OxidationIndex, QualityScore []byte
	RatioRedNIR, RatioClearNIR, Grade                             []byte
	ColorUniformity, IntegrationTime, Gain                        []byte
	SpectralRatios, QualityJS, QualityMetrics, Defects            []byte
}

var channelNames = [10]string{"F1_415nm", "F2_445nm", "F3_480nm", "F4_515nm", "F5_555nm",
	"F6_590nm", "F7_630nm", "F8_680nm", "Clear", "NIR"}

func (c *Channels) ptrs() [10]*int64 {
	return [10]*int64{&c.F1_415nm, &c.F2_445nm, &c.F3_480nm, &c.F4_515nm, &c.F5_555nm,
		&c.F6_590nm, &c.F7_630nm, &c.F8_680nm, &c.Clear, &c.NIR}
}

func (s *Sample) adaptSpectral(v []byte) error {
	if err := requireObject(v, "as7341"); err != nil {
		return err
	}
	w := &s.as
	eachMember(v, func(k string, val []byte) {
		switch k {
		case "channels":
			w.Channels = val
		case "freshness_index":
			w.FreshnessIndex = val
		case "fat_quality_index":
			w.FatQualityIndex = val
		case "oxidation_index":
			w.OxidationIndex = val
		case "quality_score":
			w.QualityScore = val
		case "ratio_red_nir":
			w.RatioRedNIR = val
		case "ratio_clear_nir":
			w.RatioClearNIR = val
		case "grade":
			w.Grade = val
		case "color_uniformity":
			w.ColorUniformity = val
		case "integration_time":
			w.IntegrationTime = val
		case "gain":
			w.Gain = val
		case "spectral_ratios":
			w.SpectralRatios = val
		case "quality_js":
			w.QualityJS = val
		case "quality_metrics":
			w.QualityMetrics = val
		case "defects":
			w.Defects = val
		}
	})
	sp := &s.Spectral
	if err := requireObject(w.Channels, "as7341.channels"); err != nil {
		return err
	}
	var raw [10][]byte
	eachMember(w.Channels, func(k string, val []byte) {
		for i, name := range channelNames {
			if k == name {
				raw[i] = val
			}
		}
	})
	for i, p := range sp.Channels.ptrs() {
		field := "as7341.channels." + channelNames[i]
		x, err := requiredNumber(raw[i], field, 0, unbounded)
		if err != nil {
			return err
		}
		// An integral float (2588.0) is an int; 2588.5 is not (contract §1.6.3).
		if x != math.Trunc(x) || x > math.MaxInt64/2 {
			return invalid(field, "must be an integer")
		}
		*p = int64(x)
	}
	var err error
	for _, f := range []struct {
		raw   []byte
		field string
		dst   *float64
	}{
		{w.FreshnessIndex, "as7341.freshness_index", &sp.FreshnessIndex},
		{w.FatQualityIndex, "as7341.fat_quality_index", &sp.FatQualityIndex},
		{w.OxidationIndex, "as7341.oxidation_index", &sp.OxidationIndex},
		{w.QualityScore, "as7341.quality_score", &sp.QualityScore},
	} {
		if *f.dst, err = requiredNumber(f.raw, f.field, 0, 1); err != nil {
			return err
		}
	}
	if sp.RatioRedNIR, err = optionalNumber(w.RatioRedNIR, "as7341.ratio_red_nir", unbounded, unbounded); err != nil {
		return err
	}
	if sp.RatioClearNIR, err = optionalNumber(w.RatioClearNIR, "as7341.ratio_clear_nir", unbounded, unbounded); err != nil {
		return err
	}
	// as7341.grade is optional: unrecognised or absent is stored as NULL, never an error.
	if label, ok := rawString(w.Grade); ok {
		if g, ok := NormalizeGrade(label); ok {
			sp.Grade = &g
		}
	}
	return nil
}

// wireFusion holds the members of fusion the ingest reads.
type wireFusion struct {
	FinalScore, FinalGrade, IsCompliant, WeightToF, WeightSpectral, ConfidenceLevel []byte
	TofScore, SpectralScore, VL53Score, AS7341Score, TofContribution                []byte
	SpectralContribution, CombinedDefects, NumDefects, Defects                      []byte
	Metrics, FoieGrasMetrics, VL53Grade, AS7341Grade                                []byte
}

func (s *Sample) adaptFusion(v []byte) error {
	if err := requireObject(v, "fusion"); err != nil {
		return err
	}
	w := &s.fu
	eachMember(v, func(k string, val []byte) {
		switch k {
		case "final_score":
			w.FinalScore = val
		case "final_grade":
			w.FinalGrade = val
		case "is_compliant":
			w.IsCompliant = val
		case "weight_tof":
			w.WeightToF = val
		case "weight_spectral":
			w.WeightSpectral = val
		case "confidence_level":
			w.ConfidenceLevel = val
		case "tof_score":
			w.TofScore = val
		case "spectral_score":
			w.SpectralScore = val
		case "vl53l8ch_score":
			w.VL53Score = val
		case "as7341_score":
			w.AS7341Score = val
		case "tof_contribution":
			w.TofContribution = val
		case "spectral_contribution":
			w.SpectralContribution = val
		case "combined_defects":
			w.CombinedDefects = val
		case "num_defects":
			w.NumDefects = val
		case "defects":
			w.Defects = val
		case "metrics":
			w.Metrics = val
		case "foie_gras_metrics":
			w.FoieGrasMetrics = val
		case "vl53l8ch_grade":
			w.VL53Grade = val
		case "as7341_grade":
			w.AS7341Grade = val
		}
	})
	fu := &s.Fusion
	var err error
	if fu.FinalScore, err = requiredNumber(w.FinalScore, "fusion.final_score", 0, 1); err != nil {
		return err
	}
	if fu.FinalGrade, err = requiredGrade(w.FinalGrade, "fusion.final_grade"); err != nil {
		return err
	}
	switch {
	case isAbsent(w.IsCompliant):
		fu.IsCompliant = fu.FinalGrade != GradeReject
	case isBool(w.IsCompliant):
		fu.IsCompliant = string(w.IsCompliant) == "true"
	default:
		return invalid("fusion.is_compliant", "must be a boolean, not %s", jsonKind(w.IsCompliant))
	}
	wt, err := optionalNumber(w.WeightToF, "fusion.weight_tof", unbounded, unbounded)
	if err != nil {
		return err
	}
	ws, err := optionalNumber(w.WeightSpectral, "fusion.weight_spectral", unbounded, unbounded)
	if err != nil {
		return err
	}
	fu.WeightToF, fu.WeightSpectral = 0.6, 0.4
	if wt != nil {
		fu.WeightToF = *wt
	}
	if ws != nil {
		fu.WeightSpectral = *ws
		// Legacy rule: checked only when weight_spectral is sent.
		if sum := fu.WeightToF + fu.WeightSpectral; math.Abs(sum-1) > 0.01 {
			return invalid("fusion.weight_spectral", "weight_tof + weight_spectral must be 1.0 ± 0.01, is %s", fmtBound(sum))
		}
	}
	if fu.ConfidenceLevel, err = optionalNumber(w.ConfidenceLevel, "fusion.confidence_level", 0, 1); err != nil {
		return err
	}
	return nil
}

// wireMeta holds the members of meta the ingest reads.
type wireMeta struct {
	FirmwareVersion, TemperatureC, HumidityPercent, ConfigProfile []byte
}

func (s *Sample) adaptTopLevel(w *wireFrame) error {
	var err error
	if !isAbsent(w.LotID) {
		id, err := lotID(w.LotID)
		if err != nil {
			return err
		}
		s.LotID = &id
	}
	if s.CodeLot, err = optionalString(w.CodeLot, "code_lot"); err != nil {
		return err
	}
	for _, f := range []struct {
		raw   []byte
		field string
	}{
		{w.Location, "location"}, {w.LotAbattage, "lot_abattage"}, {w.Eleveur, "eleveur"},
		{w.Provenance, "provenance"},
	} {
		if _, err := optionalString(f.raw, f.field); err != nil {
			return err
		}
	}
	site, err := optionalString(w.SiteCode, "site_code")
	if err != nil {
		return err
	}
	fw, err := optionalString(w.FirmwareVersion, "firmware_version")
	if err != nil {
		return err
	}
	if _, err := optionalNumber(w.TemperatureC, "temperature_c", unbounded, unbounded); err != nil {
		return err
	}
	if _, err := optionalNumber(w.HumidityPct, "humidity_pct", unbounded, unbounded); err != nil {
		return err
	}
	if !isAbsent(w.Meta) {
		if !isObject(w.Meta) {
			return invalid("meta", "must be an object, not %s", jsonKind(w.Meta))
		}
		eachMember(w.Meta, func(k string, val []byte) {
			switch k {
			case "firmware_version":
				s.meta.FirmwareVersion = val
			case "temperature_c":
				s.meta.TemperatureC = val
			case "humidity_percent":
				s.meta.HumidityPercent = val
			case "config_profile":
				s.meta.ConfigProfile = val
			}
		})
	}
	// A frame site_code is used verbatim (§1.6.4); otherwise derive it from device_id.
	if site != nil {
		s.SiteCode = site
	} else if d, ok := DeriveSite(s.DeviceID); ok {
		s.SiteCode = &d
	}
	s.FirmwareVersion = fw
	if s.FirmwareVersion == nil {
		s.FirmwareVersion = optString(s.meta.FirmwareVersion)
	}
	s.ConfigProfile = optString(s.meta.ConfigProfile)
	return nil
}

// lotID accepts an integer, an integral float (12.0) or a numeric string ("12"), like
// the legacy lax parser; 12.5 is rejected.
func lotID(v []byte) (int64, error) {
	const field = "lot_id"
	text := v
	if isString(v) {
		s, _ := rawString(v)
		text = []byte(s)
	} else if !isNumber(v) {
		return 0, invalid(field, "must be an integer, not %s", jsonKind(v))
	}
	if !isNumber(text) || bytes.ContainsAny(text, "xXpP_") { // no hex or Go-only syntax
		return 0, invalid(field, "must be an integer")
	}
	x, err := strconv.ParseFloat(string(text), 64)
	if err != nil || x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
		return 0, invalid(field, "must be an integer")
	}
	return int64(x), nil
}
