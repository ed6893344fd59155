package station

import (
	"encoding/json"
	"math"
	"time"
)

// gradeOf maps a 0-1 score to the legacy grades. Every score of a frame (ToF, spectral,
// fusion) is graded with it, so the fusion grade always matches the fusion score.
func gradeOf(score float64) string {
	switch {
	case score >= 0.90:
		return "A+"
	case score >= 0.80:
		return "A"
	case score >= 0.65:
		return "B"
	case score >= 0.50:
		return "C"
	}
	return "REJECT"
}

// gradeLabel is the verbose label the legacy simulator puts in fusion.vl53l8ch_grade.
func gradeLabel(g string) string {
	switch g {
	case "A+":
		return "A+ - Qualité exceptionnelle"
	case "A":
		return "A - Excellente qualité"
	case "B":
		return "B - Bonne qualité"
	case "C":
		return "C - Qualité acceptable"
	}
	return "REJET - Qualité insuffisante"
}

type combinedDefect struct {
	Pos         *[2]int  `json:"pos,omitempty"`
	Type        string   `json:"type"`
	Source      string   `json:"source,omitempty"`
	Severity    float64  `json:"severity"`
	DeviationMM *float64 `json:"deviation_mm,omitempty"`
}

type fusionMetrics struct {
	ToFGrade        string  `json:"tof_grade"`
	SpectralGrade   string  `json:"spectral_grade"`
	FreshnessIndex  float64 `json:"freshness_index"`
	FatQualityIndex float64 `json:"fat_quality_index"`
	VolumeMM3       float64 `json:"volume_mm3"`
}

type fusionOut struct {
	SampleID             string           `json:"sample_id"`
	FinalGrade           string           `json:"final_grade"`
	FinalScore           float64          `json:"final_score"`
	ToFScore             float64          `json:"tof_score"`
	SpectralScore        float64          `json:"spectral_score"`
	ToFContribution      float64          `json:"tof_contribution"`
	SpectralContribution float64          `json:"spectral_contribution"`
	CombinedDefects      []combinedDefect `json:"combined_defects"`
	NumDefects           int              `json:"num_defects"`
	Defects              []combinedDefect `json:"defects"`
	FusionMode           string           `json:"fusion_mode"`
	VL53L8CHGrade        string           `json:"vl53l8ch_grade"`
	VL53L8CHScore        float64          `json:"vl53l8ch_score"`
	AS7341Grade          string           `json:"as7341_grade"`
	AS7341Score          float64          `json:"as7341_score"`
	Metrics              fusionMetrics    `json:"metrics"`
	FoieGrasMetrics      foieGrasMetrics  `json:"foie_gras_metrics"`
}

func (g gen) fusion(id string, t tofResult, s spectralResult) fusionOut {
	tof, sp := t.out.QualityScore, s.out.QualityScore
	final := 0.6*tof + 0.4*sp
	grade := gradeOf(final)
	var defects []combinedDefect
	for _, d := range t.out.Defects {
		pos, dev := d.Pos, d.DeviationMM
		defects = append(defects, combinedDefect{Pos: &pos, Type: d.Type, Severity: d.Severity, DeviationMM: &dev})
	}
	for _, d := range s.out.Defects {
		defects = append(defects, combinedDefect{Type: "Spectral: " + d, Source: "AS7341", Severity: 0.5})
	}
	if defects == nil {
		defects = []combinedDefect{}
	}
	return fusionOut{
		SampleID: id, FinalGrade: grade, FinalScore: final, ToFScore: tof, SpectralScore: sp,
		ToFContribution: 0.6, SpectralContribution: 0.4, CombinedDefects: defects, NumDefects: len(defects),
		Defects: defects, FusionMode: "ToF + Spectral",
		VL53L8CHGrade: gradeLabel(t.out.Grade), VL53L8CHScore: tof, AS7341Grade: s.out.Grade, AS7341Score: sp,
		Metrics: fusionMetrics{gradeLabel(t.out.Grade), s.out.Grade, s.out.FreshnessIndex, s.out.FatQualityIndex,
			t.out.VolumeMM3},
		FoieGrasMetrics: g.foieGras(t, s, final, grade),
	}
}

type foieGrasMetrics struct {
	LobeThicknessMM              float64  `json:"lobe_thickness_mm"`
	ThicknessStdMM               float64  `json:"thickness_std_mm"`
	ThicknessCategory            string   `json:"thickness_category"`
	IsIrregularLobe              bool     `json:"is_irregular_lobe"`
	EstimatedVolumeCM3           float64  `json:"estimated_volume_cm3"`
	EstimatedWeightG             float64  `json:"estimated_weight_g"`
	FillLevelMM                  float64  `json:"fill_level_mm"`
	FillLevelPercent             float64  `json:"fill_level_percent"`
	FillConformity               bool     `json:"fill_conformity"`
	FillDeviationMM              float64  `json:"fill_deviation_mm"`
	DimensionalConformityScore   int      `json:"dimensional_conformity_score"`
	ProcessCp                    *float64 `json:"process_cp"`
	ProcessCpk                   *float64 `json:"process_cpk"`
	ProcessCapability            string   `json:"process_capability"`
	ProcessMean                  float64  `json:"process_mean"`
	ProcessStd                   float64  `json:"process_std"`
	IsCentered                   *bool    `json:"is_centered"`
	LStar                        float64  `json:"l_star"`
	AStar                        float64  `json:"a_star"`
	BStar                        float64  `json:"b_star"`
	DeltaE                       float64  `json:"delta_e"`
	ReferenceID                  string   `json:"reference_id"`
	ColorScorePremium            float64  `json:"color_score_premium"`
	HasHematoma                  bool     `json:"has_hematoma"`
	HematomaSeverity             float64  `json:"hematoma_severity"`
	HasBileTraces                bool     `json:"has_bile_traces"`
	BileSeverity                 float64  `json:"bile_severity"`
	HasOxidation                 bool     `json:"has_oxidation"`
	OxidationSeverity            float64  `json:"oxidation_severity"`
	DefectRatePercent            float64  `json:"defect_rate_percent"`
	DimensionalConformityPercent int      `json:"dimensional_conformity_percent"`
	ColorConformityPercent       float64  `json:"color_conformity_percent"`
	GlobalQualityScore100        float64  `json:"global_quality_score_100"`
	HasCriticalColorDeviation    bool     `json:"has_critical_color_deviation"`
	HasUnderfill                 bool     `json:"has_underfill"`
	HasOxidationTrend            bool     `json:"has_oxidation_trend"`
	IsCompliant                  bool     `json:"is_compliant"`
	IsDowngraded                 bool     `json:"is_downgraded"`
	IsRejected                   bool     `json:"is_rejected"`
}

func (g gen) foieGras(t tofResult, s spectralResult, final float64, grade string) foieGrasMetrics {
	thick := t.out.MaxHeightMM + g.between(4, 8)
	target := 50.0
	volume := t.out.VolumeMM3 / 1000 * g.between(0.13, 0.14)
	mean := thick + g.between(-1, 1)
	std := g.between(0.2, 0.8)
	cp := 10 / (6 * std)
	cpk := (target + 5 - mean) / (3 * std)
	centered := math.Abs(mean-target) < 5
	capability := "capable"
	if cpk < 1 {
		capability = "incapable"
	}
	ox := s.out.OxidationIndex
	lStar := 55 + 10*s.out.FreshnessIndex
	aStar := -3 - 6*ox
	bStar := 5 + 4*ox
	deltaE := math.Sqrt((lStar-75)*(lStar-75) + aStar*aStar + (bStar-10)*(bStar-10))
	defectRate := math.Min(100, float64(len(t.out.Defects))*100/12)
	fill := thick
	return foieGrasMetrics{
		LobeThicknessMM: thick, ThicknessStdMM: t.out.Stats.HeightVariationMM * 0.8,
		ThicknessCategory: map[bool]string{true: "hors_norme", false: "standard"}[thick > 60],
		IsIrregularLobe:   g.p != Normal, EstimatedVolumeCM3: volume,
		EstimatedWeightG: math.Round(t.out.VolumeMM3/1000*density*10) / 10,
		FillLevelMM:      fill, FillLevelPercent: fill / target * 100, FillConformity: math.Abs(fill-target) < 10,
		FillDeviationMM: fill - target, DimensionalConformityScore: int(100 - math.Min(85, math.Abs(fill-target)*2)),
		ProcessCp: &cp, ProcessCpk: &cpk, ProcessCapability: capability, ProcessMean: mean, ProcessStd: std,
		IsCentered: &centered, LStar: lStar, AStar: aStar, BStar: bStar, DeltaE: deltaE, ReferenceID: "cru_extra",
		ColorScorePremium: math.Max(0, 100-deltaE*5), HasHematoma: g.p == Defective && g.rng.Float64() < 0.3,
		HematomaSeverity: 0, HasBileTraces: ox > 0.3, BileSeverity: clamp01(ox * 1.5),
		HasOxidation: ox > 0.2, OxidationSeverity: ox, DefectRatePercent: defectRate,
		DimensionalConformityPercent: int(100 - math.Min(85, math.Abs(fill-target)*2)),
		ColorConformityPercent:       math.Max(0, 100-deltaE*4), GlobalQualityScore100: final * 100,
		HasCriticalColorDeviation: deltaE > 15, HasUnderfill: fill < target-10, HasOxidationTrend: ox > 0.4,
		IsCompliant: grade != "REJECT", IsDowngraded: grade == "B" || grade == "C", IsRejected: grade == "REJECT",
	}
}

// isoZ formats like the legacy simulator: UTC, microseconds, "Z".
func isoZ(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs of finite numbers are encoded
	}
	return b
}
