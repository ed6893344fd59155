package station

import (
	"encoding/json"
	"math"
	"time"
)

type channels struct {
	F1    int `json:"F1_415nm"`
	F2    int `json:"F2_445nm"`
	F3    int `json:"F3_480nm"`
	F4    int `json:"F4_515nm"`
	F5    int `json:"F5_555nm"`
	F6    int `json:"F6_590nm"`
	F7    int `json:"F7_630nm"`
	F8    int `json:"F8_680nm"`
	Clear int `json:"Clear"`
	NIR   int `json:"NIR"`
}

type spectralRatios struct {
	VioletOrange    float64 `json:"violet_orange_ratio"`
	NIRViolet       float64 `json:"nir_violet_ratio"`
	Discoloration   float64 `json:"discoloration_index"`
	LipidOxidation  float64 `json:"lipid_oxidation_index"`
	FreshnessMeat   float64 `json:"freshness_meat_index"`
	OilOxidation    float64 `json:"oil_oxidation_index"`
	RedViolet       float64 `json:"red_violet_ratio"`
	GreenRed        float64 `json:"green_red_ratio"`
	YellowBlue      float64 `json:"yellow_blue_ratio"`
	NormalizedClear float64 `json:"normalized_clear"`
}

type qualityMetrics struct {
	FreshnessIndex  float64  `json:"freshness_index"`
	FatQualityIndex float64  `json:"fat_quality_index"`
	ColorUniformity float64  `json:"color_uniformity"`
	OxidationIndex  float64  `json:"oxidation_index"`
	OverallGrade    string   `json:"overall_grade"`
	QualityScore    float64  `json:"quality_score"`
	DefectsDetected []string `json:"defects_detected"`
}

type spectralMeta struct {
	Timestamp         float64         `json:"timestamp"`
	IntegrationTimeMS int             `json:"integration_time_ms"`
	Gain              int             `json:"gain"`
	TemperatureC      float64         `json:"temperature_c"`
	AmbientLight      float64         `json:"ambient_light"`
	ProductType       string          `json:"product_type"`
	InputParams       inputParams     `json:"input_params"`
	UserGuide         json.RawMessage `json:"user_guide"`
	DeviceID          string          `json:"device_id"`
	MAC               string          `json:"mac_address"`
	Location          string          `json:"location"`
}

type inputParams struct {
	Freshness      float64 `json:"freshness"`
	FatQuality     float64 `json:"fat_quality"`
	OxidationLevel float64 `json:"oxidation_level"`
}

type qualityJS struct {
	Score          int          `json:"score"`
	Classification string       `json:"classification"`
	Ratios         jsRatios     `json:"ratios"`
	Deviations     jsDeviations `json:"deviations"`
}

type jsRatios struct {
	RedGreen   float64 `json:"red_green"`
	RedBlue    float64 `json:"red_blue"`
	YellowBlue float64 `json:"yellow_blue"`
	IRRed      float64 `json:"ir_red"`
}

type jsDeviations struct {
	jsRatios
	Average float64 `json:"average"`
}

type spectralOut struct {
	SpectralRatios  spectralRatios `json:"spectral_ratios"`
	QualityMetrics  qualityMetrics `json:"quality_metrics"`
	Grade           string         `json:"grade"`
	QualityScore    float64        `json:"quality_score"`
	Defects         []string       `json:"defects"`
	Meta            spectralMeta   `json:"meta"`
	QualityJS       qualityJS      `json:"quality_js"`
	Channels        channels       `json:"channels"`
	IntegrationTime int            `json:"integration_time"`
	Gain            int            `json:"gain"`
	FreshnessIndex  float64        `json:"freshness_index"`
	FatQualityIndex float64        `json:"fat_quality_index"`
	OxidationIndex  float64        `json:"oxidation_index"`
	ColorUniformity float64        `json:"color_uniformity"`
}

type spectralResult struct {
	out         spectralOut
	temperature float64
	nir, clear  int
	flicker     int
}

func clamp01(x float64) float64 { return math.Min(1, math.Max(0, x)) }

func (g gen) spectral(d *Device, ts float64) spectralResult {
	var r spectralResult
	o := &r.out
	// Hidden product parameters (as7341.meta.input_params) drive the indices.
	var in inputParams
	switch g.p {
	case Normal:
		in = inputParams{g.between(0.75, 0.98), g.between(0.8, 1.0), g.between(0.02, 0.3)}
	case Irregular:
		in = inputParams{g.between(0.55, 0.85), g.between(0.55, 0.85), g.between(0.2, 0.55)}
	default:
		in = inputParams{g.between(0.1, 0.6), g.between(0.05, 0.6), g.between(0.5, 0.99)}
	}
	o.FreshnessIndex = clamp01(in.Freshness + g.between(0.0, 0.15))
	o.FatQualityIndex = clamp01(in.FatQuality + g.between(-0.05, 0.1))
	o.OxidationIndex = clamp01(in.OxidationLevel - g.between(0.0, 0.15))
	o.ColorUniformity = clamp01(0.3 + 0.7*in.Freshness*g.between(0.9, 1.1))
	o.QualityScore = clamp01(0.4*o.FreshnessIndex + 0.35*o.FatQualityIndex + 0.25*(1-o.OxidationIndex))
	o.Grade = gradeOf(o.QualityScore)
	o.Channels = channels{
		F1: int(g.between(680, 1592)), F2: int(g.between(1366, 2388)), F3: int(g.between(1799, 2020)),
		F4: int(g.between(7561, 10232)), F5: int(g.between(3530, 3791)), F6: int(g.between(2178, 2538)),
		F7: int(1968 + (4550-1968)*in.Freshness), F8: int(902 + (2981-902)*(1-in.OxidationLevel)),
		Clear: 5000, NIR: 800, // the legacy simulator's placeholders; real counts are in as7341_raw
	}
	c := o.Channels
	r.nir, r.clear, r.flicker = int(g.between(2387, 2997)), int(g.between(17219, 26286)), g.rng.IntN(3)
	f := func(x int) float64 { return float64(x) }
	o.SpectralRatios = spectralRatios{
		VioletOrange: f(c.F1) / f(c.F7), NIRViolet: f(r.nir) / f(c.F1), Discoloration: f(c.F6) / f(c.F2) * 1.4,
		LipidOxidation: f(c.F8) / f(c.F7) * 0.9, FreshnessMeat: f(c.F7) / f(c.F4) * 1.1, OilOxidation: f(c.F1) / f(c.F6),
		RedViolet: f(c.F8) / f(c.F1), GreenRed: f(c.F5) / f(c.F8), YellowBlue: f(c.F6) / f(c.F3),
		NormalizedClear: f(r.clear) / 65535,
	}
	var defects []string
	if o.SpectralRatios.NIRViolet > 2.0 {
		defects = append(defects, "Anomalie structurelle (NIR/Violet > 2.0)")
	}
	if o.SpectralRatios.Discoloration > 2.0 {
		defects = append(defects, "Jaunissement excessif (décoloration > 2.0)")
	}
	if o.SpectralRatios.LipidOxidation < 0.7 {
		defects = append(defects, "Indice oxydation lipidique bas (< 0.7)")
	}
	if defects == nil {
		defects = []string{}
	}
	o.Defects = defects
	o.QualityMetrics = qualityMetrics{o.FreshnessIndex, o.FatQualityIndex, o.ColorUniformity, o.OxidationIndex,
		o.Grade, o.QualityScore, []string{}}
	r.temperature = g.between(17, 23)
	o.Meta = spectralMeta{
		Timestamp: ts - g.between(0.2, 0.5), IntegrationTimeMS: 100, Gain: 4, TemperatureC: r.temperature,
		AmbientLight: g.between(75, 129), ProductType: string(g.p), InputParams: in, UserGuide: spectralUserGuide,
		DeviceID: d.ID, MAC: d.MAC, Location: d.Location,
	}
	js := int(60 + 24*in.Freshness)
	class := "Acceptable"
	if js >= 80 {
		class = "Très bon"
	} else if js >= 70 {
		class = "Bon"
	}
	round2 := func(x float64) float64 { return math.Round(x*100) / 100 }
	o.QualityJS = qualityJS{Score: js, Classification: class,
		Ratios: jsRatios{round2(f(c.F8) / f(c.F5)), round2(f(c.F8) / f(c.F3)), round2(f(c.F6) / f(c.F3)),
			round2(f(r.nir) / f(c.F8) / 2)},
		Deviations: jsDeviations{jsRatios{round2(g.between(0, 0.7)), round2(g.between(0, 0.3)), round2(g.between(0, 0.3)),
			round2(g.between(0, 2))}, round2(g.between(0.1, 0.8))}}
	o.IntegrationTime, o.Gain = 100, 8
	return r
}

type spectralRaw struct {
	RawCounts   rawCounts    `json:"raw_counts"`
	Meta        spectralMeta `json:"meta"`
	Wavelengths []int        `json:"wavelengths"`
	Intensities []float64    `json:"intensities"`
	Timestamp   string       `json:"timestamp"`
	Temperature float64      `json:"temperature"`
	SampleType  string       `json:"sample_type"`
	Metadata    rawMetadata  `json:"metadata"`
}

type rawCounts struct {
	F1      int `json:"F1_violet"`
	F2      int `json:"F2_indigo"`
	F3      int `json:"F3_blue"`
	F4      int `json:"F4_cyan"`
	F5      int `json:"F5_green"`
	F6      int `json:"F6_yellow"`
	F7      int `json:"F7_orange"`
	F8      int `json:"F8_red"`
	NIR     int `json:"NIR"`
	Clear   int `json:"Clear"`
	Flicker int `json:"Flicker"`
}

type rawMetadata struct {
	SampleName      string `json:"sampleName"`
	Origin          string `json:"origin"`
	Eleveur         string `json:"eleveur"`
	Provenance      string `json:"provenance"`
	DateAbattage    string `json:"date_abattage"`
	TempsDepuis     int    `json:"temps_depuis_abattage"`
	LotAbattage     string `json:"lot_abattage"`
	NombreCanards   int    `json:"nombre_canards_lot"`
	IDAbattage      string `json:"id_abattage"`
	Texture         string `json:"texture"`
	Couleur         string `json:"couleur"`
	LigneProduction string `json:"ligne_production"`
	Etat            string `json:"etat"`
	ProductType     string `json:"product_type"`
}

func (g gen) spectralRaw(d *Device, s spectralResult, id string, now time.Time) *spectralRaw {
	c := s.out.Channels
	intens := make([]float64, 9)
	for i := range intens {
		intens[i] = math.Round(g.between(0.1, 0.26)*10) / 10
	}
	return &spectralRaw{
		RawCounts: rawCounts{c.F1, c.F2, c.F3, c.F4, c.F5, c.F6, c.F7, c.F8, s.nir, s.clear, s.flicker},
		Meta:      s.out.Meta, Wavelengths: []int{415, 445, 480, 515, 555, 590, 630, 680, 910}, Intensities: intens,
		Timestamp: isoZ(now.Add(-time.Duration(g.between(200, 500)) * time.Millisecond)), Temperature: s.temperature,
		SampleType: "foie_gras",
		Metadata: rawMetadata{
			SampleName: id, Origin: "Périgord", Eleveur: "Domaine Lafitte", Provenance: "Périgord",
			DateAbattage: now.UTC().Format("2006-01-02"), TempsDepuis: 10 + g.rng.IntN(111), LotAbattage: id[:len(id)-4],
			NombreCanards: 203 + g.rng.IntN(98), IDAbattage: id, Texture: "Souple", Couleur: "Ivoire",
			LigneProduction: d.Location, Etat: "Nature (frais)", ProductType: string(g.p),
		},
	}
}
