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

// Querier is what the loaders need from a database handle; *pgxpool.Pool, *pgx.Conn
// and pgx.Tx satisfy it.
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

// LoadCounters computes the counters at time now in one round trip.
func LoadCounters(ctx context.Context, db Querier, now time.Time) (Counters, error) {
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	day, week, month := now.Add(-24*time.Hour), now.AddDate(0, 0, -7), now.AddDate(0, 0, -30)
	c := Counters{Grades7d: map[string]int64{}}
	var avg *float64
	var compliant int64
	// One scan of the last 30 days (index on timestamp) serves every windowed counter;
	// the all-time count and the small alert and device tables are sub-selects.
	err := db.QueryRow(ctx, `
SELECT
  (SELECT count(*) FROM sensor_samples),
  count(*) FILTER (WHERE "timestamp" >= $1),
  count(*) FILTER (WHERE "timestamp" >= $2),
  count(*) FILTER (WHERE "timestamp" >= $3),
  count(*),
  avg(fusion_final_score) FILTER (WHERE "timestamp" >= $2),
  count(*) FILTER (WHERE "timestamp" >= $2 AND coalesce(fusion_is_compliant, fusion_final_grade <> 'REJECT')),
  (SELECT count(*) FROM sqal_alerts WHERE "time" >= $2 AND NOT coalesce(acknowledged, false)),
  (SELECT count(*) FROM sqal_alerts WHERE "time" >= $2 AND NOT coalesce(acknowledged, false) AND severity = 'critical'),
  (SELECT count(*) FROM sqal_devices),
  (SELECT count(*) FROM sqal_devices WHERE coalesce(status, 'active') = 'active')
FROM sensor_samples WHERE "timestamp" >= $4 AND "timestamp" <= $5`,
		today, day, week, least(today, month), now,
	).Scan(&c.Total, &c.Today, &c.Last24h, &c.Week, &c.Month, &avg, &compliant,
		&c.ActiveAlerts, &c.CriticalAlerts, &c.TotalDevices, &c.ActiveDevices)
	if err != nil {
		return Counters{}, fmt.Errorf("load dashboard counters: %w", err)
	}
	if avg != nil {
		c.AvgScore24h = Round(*avg, 3)
	}
	if c.Last24h > 0 {
		c.ComplianceRate24h = Round(float64(compliant)/float64(c.Last24h)*100, 1)
	}
	if c.Grades7d, err = LoadGradeCounts(ctx, db, week, now); err != nil {
		return Counters{}, err
	}
	return c, nil
}

// LoadGradeCounts counts samples per fusion grade with from <= timestamp <= to (a zero
// bound is open). The five grades are always present.
func LoadGradeCounts(ctx context.Context, db Querier, from, to time.Time) (map[string]int64, error) {
	rows, err := db.Query(ctx, `
SELECT fusion_final_grade, count(*) FROM sensor_samples
WHERE ($1::timestamptz IS NULL OR "timestamp" >= $1) AND ($2::timestamptz IS NULL OR "timestamp" <= $2)
GROUP BY 1`, nullTime(from), nullTime(to))
	if err != nil {
		return nil, fmt.Errorf("count grades: %w", err)
	}
	out := map[string]int64{}
	for _, g := range Grades {
		out[g] = 0
	}
	var g string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&g, &n}, func() error { out[g] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("count grades: %w", err)
	}
	return out, nil
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

func least(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
