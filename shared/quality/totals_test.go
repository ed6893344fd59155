package quality

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/testenv"
)

// TestGradeTotalsMatchesSamples: the rollup-plus-edges totals equal a plain aggregate
// of sensor_samples for random periods (aligned or not, open or closed, inclusive or
// whole-day ends, inside one hour) and devices.
func TestGradeTotalsMatchesSamples(t *testing.T) {
	db := testenv.DB(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	grades := []string{"A+", "A", "B", "C", "REJECT"}
	base := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	b := &pgx.Batch{}
	for i := range 300 {
		ts := base.Add(time.Duration(rng.Int64N(int64(72 * time.Hour))))
		if i%50 == 0 {
			ts = ts.Truncate(time.Hour) // samples exactly on hour boundaries
		}
		b.Queue(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_grade, fusion_final_score)
VALUES ($1, $2, $3, $4, $5)`, ts, fmt.Sprintf("D%d", i%3), fmt.Sprintf("R%03d", i), grades[rng.IntN(len(grades))],
			float64(rng.IntN(1000))/1000)
	}
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}

	randTime := func() *time.Time {
		if rng.IntN(5) == 0 {
			return nil
		}
		ts := base.Add(time.Duration(rng.Int64N(int64(80*time.Hour))) - 4*time.Hour)
		if rng.IntN(3) == 0 {
			ts = ts.Truncate(time.Hour)
		}
		return &ts
	}
	for i := range 300 {
		p := Period{Start: randTime(), End: randTime()}
		if rng.IntN(3) == 0 {
			p.DeviceID = fmt.Sprintf("D%d", rng.IntN(4))
		}
		if p.End != nil && rng.IntN(4) == 0 { // a bare end date
			d := p.End.Truncate(24*time.Hour).AddDate(0, 0, 1)
			p.End, p.EndExclusive = &d, true
		}
		if i%10 == 0 && p.Start != nil { // within one hour
			end := p.Start.Add(time.Duration(rng.Int64N(int64(50 * time.Minute))))
			p.End, p.EndExclusive = &end, false
		}
		got, err := GradeTotals(ctx, db, p)
		if err != nil {
			t.Fatal(err)
		}
		conds, args := []string{"TRUE"}, []any{}
		if p.DeviceID != "" {
			args = append(args, p.DeviceID)
			conds = append(conds, fmt.Sprintf("device_id = $%d", len(args)))
		}
		if p.Start != nil {
			args = append(args, *p.Start)
			conds = append(conds, fmt.Sprintf(`"timestamp" >= $%d`, len(args)))
		}
		if p.End != nil {
			args = append(args, *p.End)
			op := "<="
			if p.EndExclusive {
				op = "<"
			}
			conds = append(conds, fmt.Sprintf(`"timestamp" %s $%d`, op, len(args)))
		}
		rows, err := db.Query(ctx, `SELECT fusion_final_grade, count(*), count(*) FILTER (WHERE fusion_is_compliant), sum(fusion_final_score)
FROM sensor_samples WHERE `+strings.Join(conds, " AND ")+` GROUP BY 1`, args...)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]GradeTotal{}
		var g string
		var gt GradeTotal
		if _, err := pgx.ForEachRow(rows, []any{&g, &gt.N, &gt.Compliant, &gt.SumScore}, func() error { want[g] = gt; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("period %+v: got %v, want %v", p, got, want)
		}
		for g, w := range want {
			if got[g].N != w.N || got[g].Compliant != w.Compliant || math.Abs(got[g].SumScore-w.SumScore) > 1e-9 {
				t.Fatalf("period %+v grade %s: got %+v, want %+v", p, g, got[g], w)
			}
		}
	}
}

// TestLoadCounters checks each counter window against hand-placed samples, alerts and
// devices.
func TestLoadCounters(t *testing.T) {
	db := testenv.DB(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`DELETE FROM sqal_devices`)
	for i, s := range []struct {
		ago   time.Duration
		grade string
		score float64
	}{
		{-time.Minute, "A", 0.8},        // in the future: in Total only
		{10 * time.Minute, "A+", 0.9},   // today, 24 h, 7 d, 30 d
		{9 * time.Hour, "REJECT", 0.2},  // today (01:30)
		{11 * time.Hour, "B", 0.7},      // yesterday 23:30: 24 h, not today
		{30 * time.Hour, "C", 0.5},      // 7 d
		{10 * 24 * time.Hour, "B", 0.6}, // 30 d
		{40 * 24 * time.Hour, "A", 0.9}, // Total only
	} {
		exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_grade, fusion_final_score) VALUES ($1, 'D', $2, $3, $4)`,
			now.Add(-s.ago), fmt.Sprint(i), s.grade, s.score)
	}
	exec(`INSERT INTO sqal_alerts ("time", alert_type, severity, title, acknowledged) VALUES
	  ($1, 'q', 'critical', 'q', false), ($1, 'q', 'warning', 'q', false), ($1, 'q', 'critical', 'q', true), ($2, 'q', 'critical', 'q', false)`,
		now.Add(-time.Hour), now.Add(-25*time.Hour))
	exec(`INSERT INTO sqal_devices (device_id, status) VALUES ('a', NULL), ('b', 'active'), ('c', 'maintenance')`)

	c, err := LoadCounters(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{Total: 7, Today: 2, Last24h: 3, Week: 4, Month: 5,
		AvgScore24h: Round((0.9+0.2+0.7)/3, 3), ComplianceRate24h: 66.7,
		Grades7d:     map[string]int64{"A+": 1, "A": 0, "B": 1, "C": 1, "REJECT": 1},
		ActiveAlerts: 2, CriticalAlerts: 1, TotalDevices: 3, ActiveDevices: 2}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("counters\n got %+v\nwant %+v", c, want)
	}
}
