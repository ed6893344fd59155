package quality

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/sample"
)

// Querier is what the loaders need from a database handle; *database.DB,
// *pgxpool.Pool, *pgx.Conn and pgx.Tx satisfy it. The loaders read tenant tables
// (samples, rollups, alerts, devices): pass the *database.DB with the organisation scope
// in ctx, and the counters are that organisation's.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Grades are the five fusion grades, best first. Distributions always carry all five.
var Grades = [...]string{"A+", "A", "B", "C", "REJECT"}

// Counters are the dashboard counters, each computed in SQL over its whole window;
// every window ends at now (a sample stamped in the future is not counted yet), except
// Total, which counts every stored sample.
type Counters struct {
	Total   int64 // every stored sample
	Today   int64 // since 00:00 UTC
	Last24h int64
	Week    int64 // last 7 days
	Month   int64 // last 30 days
	// Over the last 24 h: mean fusion score (0..1, 3 decimals) and compliant share
	// (fusion_is_compliant, else grade != REJECT; 0..100, 1 decimal).
	AvgScore24h       float64
	ComplianceRate24h float64
	// Grades7d counts samples of the last 7 days per grade: the five grades always,
	// plus any other grade string found.
	Grades7d map[string]int64
	// Unacknowledged alerts of the last 24 h, and those of severity "critical".
	ActiveAlerts   int64
	CriticalAlerts int64
	// All registered devices, and those whose stored status is "active" (NULL = active).
	TotalDevices  int64
	ActiveDevices int64
}

// LoadCounters computes the counters at time now: sample counts from the hourly
// rollup plus the partial hours at the window edges (GradeTotals), the alert and device
// counts from their small tables.
func LoadCounters(ctx context.Context, db Querier, now time.Time) (Counters, error) {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	day, week, month := now.Add(-24*time.Hour), now.AddDate(0, 0, -7), now.AddDate(0, 0, -30)
	var c Counters
	all, err := GradeTotals(ctx, db, Period{})
	if err != nil {
		return Counters{}, fmt.Errorf("load dashboard counters: %w", err)
	}
	c.Total = Sum(all).N
	window := func(from time.Time) (map[string]GradeTotal, GradeTotal, error) {
		t, err := GradeTotals(ctx, db, Period{Start: &from, End: &now})
		if err != nil {
			return nil, GradeTotal{}, fmt.Errorf("load dashboard counters: %w", err)
		}
		return t, Sum(t), nil
	}
	var last24h, w GradeTotal
	var weekGrades map[string]GradeTotal
	if _, w, err = window(today); err != nil {
		return Counters{}, err
	}
	c.Today = w.N
	if _, last24h, err = window(day); err != nil {
		return Counters{}, err
	}
	c.Last24h = last24h.N
	if weekGrades, w, err = window(week); err != nil {
		return Counters{}, err
	}
	c.Week = w.N
	if _, w, err = window(month); err != nil {
		return Counters{}, err
	}
	c.Month = w.N
	if last24h.N > 0 {
		c.AvgScore24h = Round(last24h.SumScore/float64(last24h.N), 3)
		c.ComplianceRate24h = Round(float64(last24h.Compliant)/float64(last24h.N)*100, 1)
	}
	c.Grades7d = map[string]int64{}
	for _, g := range Grades {
		c.Grades7d[g] = 0
	}
	for g, t := range weekGrades {
		c.Grades7d[g] = t.N
	}
	err = db.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM sqal_alerts WHERE "time" >= $1 AND NOT coalesce(acknowledged, false)),
  (SELECT count(*) FROM sqal_alerts WHERE "time" >= $1 AND NOT coalesce(acknowledged, false) AND severity = 'critical'),
  (SELECT count(*) FROM sqal_devices),
  (SELECT count(*) FROM sqal_devices WHERE coalesce(status, 'active') = 'active')`, day,
	).Scan(&c.ActiveAlerts, &c.CriticalAlerts, &c.TotalDevices, &c.ActiveDevices)
	if err != nil {
		return Counters{}, fmt.Errorf("load dashboard counters: %w", err)
	}
	return c, nil
}

// LoadWindow reads the newest WindowSize samples (newest first) and the number of
// samples stored in the hour before now. Lobe thickness, L* and ΔE come from the
// foie_gras_* columns (migration 00041); for a row where all three are NULL they are
// decoded from the stored frame (raw_message), so rows written before the columns were
// filled still count. It only reads: healing the columns is left to writers.
func LoadWindow(ctx context.Context, db Querier, now time.Time) ([]Sample, int64, error) {
	var cadence int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM sensor_samples WHERE "timestamp" >= $1 AND "timestamp" <= $2`,
		now.Add(-time.Hour), now).Scan(&cadence); err != nil {
		return nil, 0, fmt.Errorf("count samples of the last hour: %w", err)
	}
	rows, err := db.Query(ctx, `
SELECT "timestamp", fusion_final_grade, fusion_final_score, vl53l8ch_quality_score,
       as7341_quality_score, vl53l8ch_avg_height_mm, vl53l8ch_volume_mm3, as7341_channels,
       foie_gras_lobe_thickness_mm, foie_gras_l_star, foie_gras_delta_e,
       CASE WHEN foie_gras_lobe_thickness_mm IS NULL AND foie_gras_l_star IS NULL AND foie_gras_delta_e IS NULL
            THEN raw_message END, raw_message_encoding
FROM sensor_samples ORDER BY "timestamp" DESC, sample_id DESC LIMIT $1`, WindowSize)
	if err != nil {
		return nil, 0, fmt.Errorf("read metrics window: %w", err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		var s Sample
		var channels, raw []byte
		var encoding *string
		if err := rows.Scan(&s.Time, &s.Grade, &s.FinalScore, &s.ToFScore, &s.SpectralScore,
			&s.AvgHeightMM, &s.VolumeMM3, &channels, &s.ThicknessMM, &s.LStar, &s.DeltaE, &raw, &encoding); err != nil {
			return nil, 0, fmt.Errorf("read metrics window: %w", err)
		}
		if len(channels) > 0 {
			// A malformed channel object only loses the spectral blocks of that sample.
			_ = json.Unmarshal(channels, &s.Channels)
		}
		if len(raw) > 0 && encoding != nil {
			// An undecodable frame only loses the foie-gras series of that sample.
			if frame, err := sample.DecodeRaw(*encoding, raw); err == nil {
				s.ThicknessMM, s.LStar, s.DeltaE = FoieGrasFromFrame(frame)
			}
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read metrics window: %w", err)
	}
	return out, cadence, nil
}

// FoieGrasFromFrame reads fusion.foie_gras_metrics.{lobe_thickness_mm, l_star, delta_e}
// from a sensor_data frame; absent or non-numeric values are nil.
func FoieGrasFromFrame(frame []byte) (thickness, lStar, deltaE *float64) {
	var m foieGrasMetrics
	if !quickFoieGras(frame, &m) {
		// Full decode: the frame is not laid out as the simulator sends it.
		var f struct {
			Fusion struct {
				Metrics foieGrasMetrics `json:"foie_gras_metrics"`
			} `json:"fusion"`
		}
		if json.Unmarshal(frame, &f) != nil {
			return nil, nil, nil
		}
		m = f.Fusion.Metrics
	}
	return m.LobeThicknessMM, m.LStar, m.DeltaE
}

type foieGrasMetrics struct {
	LobeThicknessMM *float64 `json:"lobe_thickness_mm"`
	LStar           *float64 `json:"l_star"`
	DeltaE          *float64 `json:"delta_e"`
}

// quickFoieGras decodes only the foie_gras_metrics object, found by its key after the
// "fusion" key, instead of the whole 140 KB frame (most of it the ToF histogram, which
// the simulator sends after fusion): the metrics panel reads a hundred frames per
// computation. It reports false when either key is absent or the metrics key is not
// followed by an object, and the caller then decodes the whole frame.
func quickFoieGras(frame []byte, m *foieGrasMetrics) bool {
	i := bytes.Index(frame, []byte(`"fusion"`))
	if i < 0 {
		return false
	}
	key := []byte(`"foie_gras_metrics"`)
	j := bytes.Index(frame[i:], key)
	if j < 0 {
		return false
	}
	rest := bytes.TrimLeft(frame[i+j+len(key):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '{' {
		return false
	}
	return json.NewDecoder(bytes.NewReader(rest)).Decode(m) == nil
}
