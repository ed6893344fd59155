package station

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Profile is the kind of product a station measures; it drives every score.
type Profile string

// Profiles of the legacy simulator (as7341.meta.product_type).
const (
	Normal    Profile = "normal"
	Irregular Profile = "irregular"
	Defective Profile = "defective"
	// Mixed draws normal, irregular or defective per sample (70 / 20 / 10 %).
	Mixed Profile = "mixed"
)

// ParseProfile accepts the profile names (case-insensitive).
func ParseProfile(s string) (Profile, error) {
	switch p := Profile(strings.ToLower(strings.TrimSpace(s))); p {
	case Normal, Irregular, Defective, Mixed:
		return p, nil
	}
	return "", fmt.Errorf("unknown profile %q (normal, irregular, defective, mixed)", s)
}

// Device is one simulated station.
type Device struct {
	ID       string // ESP32_DEMO_LL_01
	Site     string // LL
	MAC      string
	Location string
	lot      int // NNNN of the sample ids, moves on every 1000 samples
	seq      int
}

// NewDevice names station n (1-based) of a site the way the demo stations are named.
func NewDevice(site string, n int, lot int) *Device {
	return &Device{
		ID:       fmt.Sprintf("ESP32_DEMO_%s_%02d", site, n),
		Site:     site,
		MAC:      fmt.Sprintf("24:0A:C4:%02X:%02X:%02X", site[0], site[1], n),
		Location: fmt.Sprintf("Ligne %c", 'A'+rune((n-1)%26)),
		lot:      lot % 10000,
	}
}

// NextSampleID returns the next id in the XX-YYMMDD-NNNN-NNN format.
func (d *Device) NextSampleID(now time.Time) string {
	d.seq++
	if d.seq > 999 {
		d.seq = 1
		d.lot = (d.lot + 1) % 10000
	}
	return fmt.Sprintf("%s-%s-%04d-%03d", d.Site, now.UTC().Format("060102"), d.lot, d.seq)
}

// Hello is the esp32_hello frame (contract §1.4).
func (d *Device) Hello(now time.Time) []byte {
	return mustJSON(struct {
		Type            string  `json:"type"`
		DeviceID        string  `json:"device_id"`
		MAC             string  `json:"mac_address"`
		Location        string  `json:"location"`
		IP              string  `json:"ip_address"`
		FirmwareVersion string  `json:"firmware_version"`
		Sensors         sensors `json:"sensors"`
		Timestamp       string  `json:"timestamp"`
	}{"esp32_hello", d.ID, d.MAC, d.Location, "192.168.1.123", firmware,
		sensors{"0x29", "0x39"}, isoZ(now)})
}

type sensors struct {
	VL53L8CH string `json:"vl53l8ch"`
	AS7341   string `json:"as7341"`
}

// HeartbeatStats are the counters a heartbeat reports.
type HeartbeatStats struct {
	MeasurementsSent     int `json:"measurements_sent"`
	MeasurementsBuffered int `json:"measurements_buffered"`
	Reconnections        int `json:"reconnections"`
	I2CErrors            int `json:"i2c_errors"`
	UptimeSeconds        int `json:"uptime_seconds"`
}

// Heartbeat is the heartbeat frame (contract §1.4).
func (d *Device) Heartbeat(now time.Time, st HeartbeatStats) []byte {
	return mustJSON(struct {
		Type       string         `json:"type"`
		DeviceID   string         `json:"device_id"`
		Status     string         `json:"status"`
		Uptime     int            `json:"uptime"`
		Stats      HeartbeatStats `json:"stats"`
		BufferSize int            `json:"buffer_size"`
		Timestamp  string         `json:"timestamp"`
	}{"heartbeat", d.ID, "online", st.UptimeSeconds, st, st.MeasurementsBuffered, isoZ(now)})
}

const (
	firmware      = "1.0.0"
	configProfile = "foiegras_standard_barquette"
	sensorHeight  = 100.0 // mm above the tray
	background    = 95.0  // mm: the tray
	zoneArea      = 90000.0 / 64
	binSize       = 37.5
	nBins         = 128
	// Liver density (g/cm³), as ingest's derived weight.
	density = 0.947
)

// Sample is one generated sensor_data frame and what it should be acknowledged with.
type Sample struct {
	ID         string
	FinalScore float64
	FinalGrade string
	Profile    Profile
	JSON       []byte
}

// Generate builds one sensor_data frame shaped exactly like the legacy simulator's
// (contract §1.5, fixture ws-sensors-sample-1.json): same keys in the same order,
// realistic values for the profile. slim leaves out vl53l8ch_raw and as7341_raw.
func (d *Device) Generate(rng *rand.Rand, p Profile, now time.Time, slim bool) Sample {
	if p == Mixed {
		switch x := rng.Float64(); {
		case x < 0.7:
			p = Normal
		case x < 0.9:
			p = Irregular
		default:
			p = Defective
		}
	}
	id := d.NextSampleID(now)
	g := gen{rng: rng, p: p}
	ts := float64(now.UnixNano()) / 1e9

	tof := g.tof(ts)
	sp := g.spectral(d, ts)
	fu := g.fusion(id, tof, sp)

	f := frame{
		Type: "sensor_data", Timestamp: isoZ(now), SampleID: id, DeviceID: d.ID, Location: d.Location,
		VL53L8CH: tof.out, AS7341: sp.out, Fusion: fu,
		Meta: frameMeta{DeviceID: d.ID, FirmwareVersion: firmware, TemperatureC: sp.temperature,
			HumidityPercent: 45.0, ConfigProfile: configProfile},
		LotAbattage: "LOT-" + now.UTC().Format("20060102") + "-" + id[len(id)-4:],
		Eleveur:     "Ferme Martin",
		Provenance:  "Périgord, France",
	}
	if !slim {
		f.VL53L8CHRaw = g.tofRaw(d, tof, ts)
		f.AS7341Raw = g.spectralRaw(d, sp, id, now)
	}
	return Sample{ID: id, FinalScore: fu.FinalScore, FinalGrade: fu.FinalGrade, Profile: p, JSON: mustJSON(f)}
}

type frame struct {
	Type        string       `json:"type"`
	Timestamp   string       `json:"timestamp"`
	SampleID    string       `json:"sample_id"`
	DeviceID    string       `json:"device_id"`
	Location    string       `json:"location"`
	VL53L8CH    tofOut       `json:"vl53l8ch"`
	AS7341      spectralOut  `json:"as7341"`
	Fusion      fusionOut    `json:"fusion"`
	Meta        frameMeta    `json:"meta"`
	VL53L8CHRaw *tofRawOut   `json:"vl53l8ch_raw,omitempty"`
	AS7341Raw   *spectralRaw `json:"as7341_raw,omitempty"`
	LotAbattage string       `json:"lot_abattage"`
	Eleveur     string       `json:"eleveur"`
	Provenance  string       `json:"provenance"`
}

type frameMeta struct {
	DeviceID        string  `json:"device_id"`
	FirmwareVersion string  `json:"firmware_version"`
	TemperatureC    float64 `json:"temperature_c"`
	HumidityPercent float64 `json:"humidity_percent"`
	ConfigProfile   string  `json:"config_profile"`
}

type matrix [8][8]float64
type intMatrix [8][8]int

type gen struct {
	rng *rand.Rand
	p   Profile
}

func (g gen) between(lo, hi float64) float64 { return lo + g.rng.Float64()*(hi-lo) }

// ---- time of flight ----

type tofStats struct {
	VolumeMM3            float64 `json:"volume_mm3"`
	AverageHeightMM      float64 `json:"average_height_mm"`
	MaxHeightMM          float64 `json:"max_height_mm"`
	MinHeightMM          float64 `json:"min_height_mm"`
	HeightRangeMM        float64 `json:"height_range_mm"`
	OccupiedPixels       int     `json:"occupied_pixels"`
	BaseAreaMM2          float64 `json:"base_area_mm2"`
	VolumeTrapezoidalMM3 float64 `json:"volume_trapezoidal_mm3"`
	VolumeSimpsonMM3     float64 `json:"volume_simpson_mm3"`
	VolumeSplineMM3      float64 `json:"volume_spline_mm3"`
	SurfaceUniformity    float64 `json:"surface_uniformity"`
	HeightVariationMM    float64 `json:"height_variation_mm"`
}

type binsAnalysis struct {
	MultiPeakCount   intMatrix `json:"multi_peak_count"`
	SurfaceRoughness matrix    `json:"surface_roughness"`
	SignalQuality    matrix    `json:"signal_quality"`
	TextureScore     matrix    `json:"texture_score"`
	DensityScore     matrix    `json:"density_score"`
	PeakBinMap       intMatrix `json:"peak_bin_map"`
}

type tofDefect struct {
	Pos         [2]int  `json:"pos"`
	Type        string  `json:"type"`
	Severity    float64 `json:"severity"`
	DeviationMM float64 `json:"deviation_mm"`
}

type tofOut struct {
	Timestamp            float64      `json:"timestamp"`
	Stats                tofStats     `json:"stats"`
	BinsAnalysis         binsAnalysis `json:"bins_analysis"`
	ReflectanceAnalysis  any          `json:"reflectance_analysis"`
	AmplitudeConsistency any          `json:"amplitude_consistency"`
	Defects              []tofDefect  `json:"defects"`
	QualityScore         float64      `json:"quality_score"`
	ScoreBreakdown       any          `json:"score_breakdown"`
	Grade                string       `json:"grade"`
	ProcessingTimeS      float64      `json:"processing_time_s"`
	VolumeMM3            float64      `json:"volume_mm3"`
	BaseAreaMM2          float64      `json:"base_area_mm2"`
	AverageHeightMM      float64      `json:"average_height_mm"`
	MaxHeightMM          float64      `json:"max_height_mm"`
	MinHeightMM          float64      `json:"min_height_mm"`
	HeightRangeMM        float64      `json:"height_range_mm"`
	SurfaceUniformity    float64      `json:"surface_uniformity"`
	DistanceMatrix       matrix       `json:"distance_matrix"`
	ReflectanceMatrix    matrix       `json:"reflectance_matrix"`
	AmplitudeMatrix      matrix       `json:"amplitude_matrix"`
	AmbientMatrix        matrix       `json:"ambient_matrix"`
	StatusMatrix         intMatrix    `json:"status_matrix"`
}

type tofResult struct {
	out  tofOut
	bins [8][8][nBins]float64
}

func (g gen) tof(ts float64) tofResult {
	var r tofResult
	o := &r.out
	// The liver is a half-ellipsoid on the tray; irregular lobes are lopsided, defective
	// ones carry a foreign body or a dent.
	cx, cy := g.between(3.2, 3.8), g.between(3.2, 3.8)
	ax, ay := g.between(2.4, 2.9), g.between(1.9, 2.4)
	height := g.between(70, 85)
	bump := 0.0
	if g.p == Irregular {
		bump = g.between(8, 18)
	}
	var heights matrix
	for i := range 8 {
		for j := range 8 {
			dx, dy := (float64(j)-cx)/ax, (float64(i)-cy)/ay
			h := 0.0
			if q := 1 - dx*dx - dy*dy; q > 0 {
				h = height * math.Sqrt(q)
				if bump > 0 {
					h += bump * math.Sin(float64(i+j))
				}
			}
			h = math.Max(0, h+g.rng.NormFloat64()*1.5)
			heights[i][j] = h
		}
	}
	var defects []tofDefect
	nDefects := map[Profile]int{Normal: g.rng.IntN(2), Irregular: 2 + g.rng.IntN(4), Defective: 6 + g.rng.IntN(6)}[g.p]
	for range nDefects {
		i, j := 2+g.rng.IntN(4), 2+g.rng.IntN(4)
		dev := -g.between(10, 78)
		heights[i][j] = math.Max(0, heights[i][j]-dev/2)
		defects = append(defects, tofDefect{Pos: [2]int{i, j}, Type: "foreign_body", Severity: math.Min(1, -dev/60), DeviationMM: dev})
	}
	if defects == nil {
		defects = []tofDefect{}
	}

	sum, maxH, occupied := 0.0, 0.0, 0
	for i := range 8 {
		for j := range 8 {
			h := heights[i][j]
			d := math.Min(sensorHeight, math.Max(16, background-h))
			if h < 0.5 {
				d = background + math.Max(0, g.rng.NormFloat64()*1.2)
			}
			o.DistanceMatrix[i][j] = d
			inside := h >= 0.5
			if inside {
				occupied++
				o.ReflectanceMatrix[i][j] = g.between(43, 60)
				o.AmplitudeMatrix[i][j] = g.between(8, 42)
			} else {
				o.ReflectanceMatrix[i][j] = g.between(74, 83)
				o.AmplitudeMatrix[i][j] = math.Max(0, g.between(-5, 26))
			}
			o.AmbientMatrix[i][j] = g.between(94, 137)
			o.StatusMatrix[i][j] = 5
			sum += h
			maxH = math.Max(maxH, h)
			r.bins[i][j] = g.histogram(d)
			ba := &o.BinsAnalysis
			peak, second := 0, 0.0
			total := 0.0
			for b, v := range r.bins[i][j] {
				total += v
				if v > r.bins[i][j][peak] {
					peak = b
				}
			}
			for b, v := range r.bins[i][j] {
				if b > peak+3 && v > second {
					second = v
				}
			}
			ba.PeakBinMap[i][j] = peak
			if second > 0.5 {
				ba.MultiPeakCount[i][j] = 1
			}
			ba.SurfaceRoughness[i][j] = g.between(0.16, 0.24)
			ba.SignalQuality[i][j] = g.between(0.07, 0.13)
			ba.TextureScore[i][j] = g.between(0.14, 0.6)
			ba.DensityScore[i][j] = total / 2
		}
	}
	avg := sum / 64
	var varSum float64
	for i := range 8 {
		for j := range 8 {
			varSum += (heights[i][j] - avg) * (heights[i][j] - avg)
		}
	}
	std := math.Sqrt(varSum / 64)
	volume := avg * 90000
	trap := volume * g.between(0.88, 0.93)
	o.Stats = tofStats{
		VolumeMM3: volume, AverageHeightMM: avg, MaxHeightMM: maxH, MinHeightMM: 0, HeightRangeMM: maxH,
		OccupiedPixels: occupied, BaseAreaMM2: 90000, VolumeTrapezoidalMM3: trap,
		VolumeSimpsonMM3: trap * g.between(0.97, 1.01), VolumeSplineMM3: trap * g.between(0.97, 1.0),
		SurfaceUniformity: g.between(0.076, 0.089), HeightVariationMM: std,
	}
	o.Timestamp = ts
	o.ReflectanceAnalysis = struct {
		Avg        float64 `json:"avg_reflectance"`
		Uniformity float64 `json:"reflectance_uniformity"`
		Anomalies  []any   `json:"optical_anomalies"`
	}{150, 0.88, []any{}}
	o.AmplitudeConsistency = struct {
		Avg       float64 `json:"avg_amplitude"`
		Std       float64 `json:"amplitude_std"`
		Variance  float64 `json:"amplitude_variance"`
		Stability float64 `json:"signal_stability"`
	}{100, 10, 100, 0.92}
	o.Defects = defects
	base := map[Profile][2]float64{Normal: {0.72, 0.95}, Irregular: {0.5, 0.75}, Defective: {0.15, 0.5}}[g.p]
	o.QualityScore = g.between(base[0], base[1])
	o.ScoreBreakdown = struct {
		Volume      float64 `json:"volume_score"`
		Uniformity  float64 `json:"uniformity_score"`
		Reflectance float64 `json:"reflectance_score"`
		Amplitude   float64 `json:"amplitude_score"`
		Penalty     float64 `json:"defect_penalty"`
	}{o.QualityScore, 0.85, 0.9, 0.88, 0.1}
	o.Grade = gradeOf(o.QualityScore)
	o.ProcessingTimeS = g.between(0.34, 2.01)
	o.VolumeMM3 = trap
	o.BaseAreaMM2 = 90000
	o.AverageHeightMM, o.MaxHeightMM, o.MinHeightMM, o.HeightRangeMM = avg, maxH, 0, maxH
	o.SurfaceUniformity = 0.85
	return r
}

// histogram is one zone's 128-bin ToF histogram: a peak at the measured distance plus
// sparse photon noise, like the legacy simulator's.
func (g gen) histogram(d float64) [nBins]float64 {
	var h [nBins]float64
	mu := d / binSize * 1.0
	amp := g.between(10, 20)
	for b := range nBins {
		v := 0.0
		if x := (float64(b) - mu) / 1.3; x > -8 && x < 8 { // exp(-32) is nothing
			v = amp * math.Exp(-x*x/2)
		}
		if g.rng.Float64() < 0.62 {
			v += g.rng.Float64() * 0.6
		}
		if v < 1e-3 {
			v = 0
		}
		h[b] = v
	}
	return h
}

type tofRawOut struct {
	DistanceMatrix    matrix               `json:"distance_matrix"`
	ReflectanceMatrix matrix               `json:"reflectance_matrix"`
	AmplitudeMatrix   matrix               `json:"amplitude_matrix"`
	AmbientMatrix     matrix               `json:"ambient_matrix"`
	BinsMatrix        [8][8][nBins]float64 `json:"bins_matrix"`
	Defects           any                  `json:"defects"`
	Meta              tofRawMeta           `json:"meta"`
	StatusMatrix      intMatrix            `json:"status_matrix"`
}

type tofRawMeta struct {
	Timestamp      float64         `json:"timestamp"`
	HeightSensorMM float64         `json:"height_sensor_mm"`
	Resolution     int             `json:"resolution"`
	ZoneSizeMM     float64         `json:"zone_size_mm"`
	ZoneSizeXMM    float64         `json:"zone_size_x_mm"`
	ZoneSizeYMM    float64         `json:"zone_size_y_mm"`
	GridXMM        float64         `json:"grid_coverage_x_mm"`
	GridYMM        float64         `json:"grid_coverage_y_mm"`
	NBins          int             `json:"n_bins"`
	BinSizeMM      float64         `json:"bin_size_mm"`
	Ellipsoid      any             `json:"ellipsoid_dimensions"`
	UserGuide      json.RawMessage `json:"user_guide"`
	DeviceID       string          `json:"device_id"`
	MAC            string          `json:"mac_address"`
	Location       string          `json:"location"`
}

func (g gen) tofRaw(d *Device, t tofResult, ts float64) *tofRawOut {
	type pos struct {
		Position     [2]int  `json:"position"`
		Radius       float64 `json:"radius"`
		HeightChange float64 `json:"height_change,omitempty"`
		Depth        float64 `json:"depth,omitempty"`
	}
	return &tofRawOut{
		DistanceMatrix: t.out.DistanceMatrix, ReflectanceMatrix: t.out.ReflectanceMatrix,
		AmplitudeMatrix: t.out.AmplitudeMatrix, AmbientMatrix: t.out.AmbientMatrix, BinsMatrix: t.bins,
		Defects: struct {
			ForeignBody pos `json:"foreign_body"`
			Deformation pos `json:"deformation"`
		}{pos{Position: [2]int{2 + g.rng.IntN(4), 2 + g.rng.IntN(4)}, Radius: 1.5, HeightChange: -15},
			pos{Position: [2]int{2 + g.rng.IntN(5), 1 + g.rng.IntN(5)}, Radius: 2, Depth: 10}},
		Meta: tofRawMeta{
			Timestamp: ts - g.between(0.3, 0.6), HeightSensorMM: sensorHeight, Resolution: 8, ZoneSizeMM: 37.5,
			ZoneSizeXMM: 37.5, ZoneSizeYMM: 22.5, GridXMM: 300, GridYMM: 180, NBins: nBins, BinSizeMM: binSize,
			Ellipsoid: struct {
				SX float64 `json:"semi_axis_x_mm"`
				SY float64 `json:"semi_axis_y_mm"`
				SZ float64 `json:"semi_axis_z_mm"`
				L  float64 `json:"length_mm"`
				W  float64 `json:"width_mm"`
				H  float64 `json:"height_mm"`
			}{85, 42.5, 80, 170, 85, 80},
			UserGuide: tofUserGuide, DeviceID: d.ID, MAC: d.MAC, Location: d.Location,
		},
		StatusMatrix: t.out.StatusMatrix,
	}
}
