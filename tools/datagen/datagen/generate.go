// Package datagen generates realistic SQAL data (devices, lots, samples, alerts) and
// writes it with COPY; the datagen command and the read benchmark use it.
package datagen

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options of a generation run.
type Options struct {
	Samples        int
	Days           int
	DevicesPerSite int
	Lots           int
	FirstLot       int
	Seed           int64
	Batch          int
	Truncate       bool
	// NoMatrices leaves the three 8x8 matrix columns NULL (about half of a row's bytes):
	// faster to write, for benchmarks that do not read them.
	NoMatrices bool
	Now        time.Time // samples end here
}

// Stats counts what a run wrote.
type Stats struct{ Samples, Alerts, Devices, Lots int }

var sites = []string{"LL", "LS", "MT"}

// Device ids follow the legacy pattern from which the site is derived (ESP32_<SITE>_NN).
func deviceID(site string, i int) string { return fmt.Sprintf("ESP32_%s_%02d", site, i+1) }

// Generate writes devices, lots, samples and alerts. progress is called after each batch.
func Generate(ctx context.Context, db *pgxpool.Pool, o Options, progress func(done int)) (Stats, error) {
	if o.Batch <= 0 {
		o.Batch = 50000
	}
	if o.Days <= 0 {
		o.Days = 1
	}
	var st Stats
	if o.Truncate {
		if _, err := db.Exec(ctx, `TRUNCATE sensor_samples, sqal_alerts, predictions`); err != nil {
			return st, fmt.Errorf("truncate: %w", err)
		}
		// TRUNCATE does not fire row or statement DELETE triggers: empty the rollup too.
		if _, err := db.Exec(ctx, `TRUNCATE sqal_sample_hourly`); err != nil {
			return st, fmt.Errorf("truncate rollup: %w", err)
		}
	}
	var devices []string
	for _, s := range sites {
		for i := 0; i < o.DevicesPerSite; i++ {
			id := deviceID(s, i)
			devices = append(devices, id)
			if _, err := db.Exec(ctx, `INSERT INTO sqal_devices (device_id, device_name, firmware_version, site_code,
  status, config_profile, last_seen) VALUES ($1, $2, '1.0.0', $3, 'active', 'foiegras_standard_barquette', $4)
ON CONFLICT (device_id) DO UPDATE SET last_seen = GREATEST(sqal_devices.last_seen, EXCLUDED.last_seen)`,
				id, fmt.Sprintf("Station %s %d", s, i+1), s, o.Now); err != nil {
				return st, fmt.Errorf("device %s: %w", id, err)
			}
			st.Devices++
		}
	}
	for i := 0; i < o.Lots; i++ {
		id := o.FirstLot + i
		if _, err := db.Exec(ctx, `INSERT INTO lots_gavage (id, code_lot, site_code, statut)
VALUES ($1, $2, $3, 'termine') ON CONFLICT DO NOTHING`, id, fmt.Sprintf("%s%07d", sites[i%3], id), sites[i%3]); err != nil {
			return st, fmt.Errorf("lot %d: %w", id, err)
		}
		st.Lots++
	}
	if o.Lots > 0 {
		// Keep the serial ahead of the ids written explicitly.
		if _, err := db.Exec(ctx, `SELECT setval(pg_get_serial_sequence('lots_gavage', 'id'), (SELECT max(id) FROM lots_gavage))`); err != nil {
			return st, fmt.Errorf("lot sequence: %w", err)
		}
	}

	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x5a11))
	span := time.Duration(o.Days) * 24 * time.Hour
	g := &gen{rng: rng, devices: devices, o: o, span: span}
	for done := 0; done < o.Samples; {
		n := min(o.Batch, o.Samples-done)
		g.alerts = g.alerts[:0]
		if _, err := db.CopyFrom(ctx, pgx.Identifier{"sensor_samples"}, sampleColumns, &rowSource{g: g, i: done, end: done + n}); err != nil {
			return st, fmt.Errorf("copy samples %d..%d: %w", done, done+n, err)
		}
		if len(g.alerts) > 0 {
			if _, err := db.CopyFrom(ctx, pgx.Identifier{"sqal_alerts"}, alertColumns, pgx.CopyFromRows(g.alerts)); err != nil {
				return st, fmt.Errorf("copy alerts: %w", err)
			}
			st.Alerts += len(g.alerts)
		}
		done += n
		st.Samples = done
		if progress != nil {
			progress(done)
		}
	}
	if _, err := db.Exec(ctx, `ANALYZE sensor_samples; ANALYZE sqal_sample_hourly; ANALYZE sqal_alerts`); err != nil {
		return st, fmt.Errorf("analyze: %w", err)
	}
	return st, nil
}

var sampleColumns = []string{"timestamp", "device_id", "sample_id", "lot_id",
	"vl53l8ch_distance_matrix", "vl53l8ch_reflectance_matrix", "vl53l8ch_amplitude_matrix",
	"vl53l8ch_volume_mm3", "vl53l8ch_avg_height_mm", "vl53l8ch_max_height_mm", "vl53l8ch_min_height_mm",
	"vl53l8ch_base_area_mm2", "vl53l8ch_surface_uniformity", "vl53l8ch_defect_count",
	"vl53l8ch_quality_score", "vl53l8ch_grade",
	"as7341_channels", "as7341_integration_time", "as7341_gain",
	"as7341_freshness_index", "as7341_fat_quality_index", "as7341_oxidation_index",
	"as7341_color_uniformity", "as7341_quality_score", "as7341_grade",
	"fusion_final_score", "fusion_final_grade", "fusion_vl53l8ch_score", "fusion_as7341_score",
	"fusion_is_compliant", "meta_firmware_version", "meta_temperature_c", "meta_humidity_percent",
	"meta_config_profile", "processing_time_ms", "created_at", "poids_foie_estime_g",
	"foie_gras_lobe_thickness_mm", "foie_gras_l_star", "foie_gras_delta_e"}

var alertColumns = []string{"time", "sample_id", "device_id", "lot_id", "alert_type", "severity", "title",
	"message", "defect_details", "threshold_value", "actual_value"}

type gen struct {
	rng     *rand.Rand
	devices []string
	o       Options
	span    time.Duration
	alerts  [][]any
	sb      strings.Builder
}

// grade picks a fusion grade with the demo's observed mix and a score inside its band.
func (g *gen) grade() (string, float64) {
	r := g.rng.Float64()
	switch {
	case r < 0.10:
		return "A+", 0.90 + g.rng.Float64()*0.10
	case r < 0.45:
		return "A", 0.75 + g.rng.Float64()*0.15
	case r < 0.80:
		return "B", 0.60 + g.rng.Float64()*0.15
	case r < 0.97:
		return "C", 0.40 + g.rng.Float64()*0.20
	default:
		return "REJECT", 0.20 + g.rng.Float64()*0.20
	}
}

func gradeOf(score float64) string {
	switch {
	case score >= 0.9:
		return "A+"
	case score >= 0.75:
		return "A"
	case score >= 0.6:
		return "B"
	case score >= 0.4:
		return "C"
	}
	return "REJECT"
}

// matrix renders an 8x8 integer matrix as JSON.
func (g *gen) matrix(base, spread float64, lo, hi int) string {
	g.sb.Reset()
	g.sb.WriteByte('[')
	for r := 0; r < 8; r++ {
		if r > 0 {
			g.sb.WriteByte(',')
		}
		g.sb.WriteByte('[')
		for c := 0; c < 8; c++ {
			if c > 0 {
				g.sb.WriteByte(',')
			}
			// A bump in the middle of the tray: lower distance where the lobe is.
			d := math.Hypot(float64(r)-3.5, float64(c)-3.5)
			v := int(base - spread*math.Max(0, 1-d/4) + g.rng.NormFloat64()*2)
			g.sb.WriteString(strconv.Itoa(max(lo, min(hi, v))))
		}
		g.sb.WriteByte(']')
	}
	g.sb.WriteByte(']')
	return g.sb.String()
}

func (g *gen) row(i int) []any {
	rng := g.rng
	dev := g.devices[rng.IntN(len(g.devices))]
	// Samples arrive in time order, as from real stations: row i sits at i/N of the
	// span (plus jitter), so the table's physical order follows time like in production
	// (a random order would make every time-range read touch one page per row).
	step := float64(g.span) / float64(max(1, g.o.Samples))
	ts := g.o.Now.Add(-g.span + time.Duration((float64(i)+rng.Float64())*step))
	sampleID := fmt.Sprintf("DG-%s-%08d", ts.Format("060102"), i)
	var lot any
	if g.o.Lots > 0 && rng.Float64() < 0.8 {
		lot = int32(g.o.FirstLot + rng.IntN(g.o.Lots))
	}
	grade, score := g.grade()
	tof := math.Min(1, math.Max(0, score+rng.NormFloat64()*0.08))
	spec := math.Min(1, math.Max(0, (score-0.6*tof)/0.4))
	volume := 940000 + rng.Float64()*170000
	fresh := math.Min(1, 0.85+rng.Float64()*0.15)
	fat := 0.5 + rng.Float64()*0.5
	ox := rng.Float64() * 0.8
	channels := fmt.Sprintf(`{"F1_415nm":%d,"F2_445nm":%d,"F3_480nm":%d,"F4_515nm":%d,"F5_555nm":%d,"F6_590nm":%d,"F7_630nm":%d,"F8_680nm":%d,"Clear":5000,"NIR":800}`,
		680+rng.IntN(900), 1366+rng.IntN(1000), 1799+rng.IntN(220), 7561+rng.IntN(2600), 3530+rng.IntN(260),
		2178+rng.IntN(360), 1968+rng.IntN(2580), 902+rng.IntN(2080))
	thickness := 88.6 + rng.Float64()*2
	created := ts.Add(time.Duration(50+rng.IntN(500)) * time.Millisecond)
	poids := math.Round(volume/1000*0.947*10) / 10
	var dist, refl, ampl any
	if !g.o.NoMatrices {
		dist, refl, ampl = g.matrix(95, 70, 0, 4000), g.matrix(60, -20, 0, 255), g.matrix(20, -25, 0, 4095)
	}
	row := []any{ts, dev, sampleID, lot, dist, refl, ampl,
		volume, 11.5 + rng.Float64()*2, 77 + rng.Float64()*6.4, 0.0,
		90000.0, 0.85, int32(8 + rng.IntN(4)),
		tof, gradeOf(tof),
		channels, int32(100), int32(8),
		fresh, fat, ox,
		0.3 + rng.Float64()*0.7, spec, gradeOf(spec),
		score, grade, tof, spec,
		grade != "REJECT", "1.0.0", 17 + rng.Float64()*6, 45.0,
		"foiegras_standard_barquette", 340 + rng.Float64()*1700, created, poids,
		thickness, 57.5 + rng.Float64()*2, 20.1 + rng.Float64()*1.7}
	// The legacy alert rules (sqal-contract §3), for the rows that trip them.
	add := func(typ, sev, msg, ctx string, thr, act any) {
		g.alerts = append(g.alerts, []any{created, sampleID, dev, lot, typ, sev, typ, msg, ctx, thr, act})
	}
	switch {
	case score < 0.4:
		add("quality_critical", "critical", fmt.Sprintf("Score qualité critique: %.2f (seuil: 0.40)", score),
			fmt.Sprintf(`{"fusion_score":%v,"fusion_grade":%q,"tof_score":%v,"spectral_score":%v}`, score, grade, tof, spec), "0.40", fmt.Sprintf("%.4f", score))
	case score < 0.6:
		add("quality_low", "warning", fmt.Sprintf("Score qualité faible: %.2f (seuil: 0.60)", score),
			fmt.Sprintf(`{"fusion_score":%v,"fusion_grade":%q}`, score, grade), "0.60", fmt.Sprintf("%.4f", score))
	}
	if grade == "REJECT" {
		add("grade_reject", "critical", "Échantillon REJETÉ - Non conforme qualité",
			fmt.Sprintf(`{"fusion_score":%v,"is_compliant":false}`, score), nil, nil)
	}
	if ox > 0.7 {
		add("oxidation_high", "warning", fmt.Sprintf("Indice oxydation élevé: %.2f (seuil: 0.70)", ox),
			fmt.Sprintf(`{"oxidation_index":%v,"fat_quality_index":%v}`, ox, fat), "0.70", fmt.Sprintf("%.4f", ox))
	}
	return row
}

// rowSource feeds CopyFrom one generated row at a time (no batch held in memory).
type rowSource struct {
	g      *gen
	i, end int
	cur    []any
}

func (s *rowSource) Next() bool {
	if s.i >= s.end {
		return false
	}
	s.cur = s.g.row(s.i)
	s.i++
	return true
}

func (s *rowSource) Values() ([]any, error) { return s.cur, nil }
func (s *rowSource) Err() error             { return nil }
