package quality

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Period selects samples by device (empty: all) and time. A nil bound is open; End is
// inclusive unless EndExclusive (a whole-day end given as a bare date).
type Period struct {
	DeviceID     string
	Start, End   *time.Time
	EndExclusive bool
}

// GradeTotal is what the aggregates need of the samples of one grade.
type GradeTotal struct {
	N         int64   // samples
	Compliant int64   // fusion_is_compliant
	SumScore  float64 // sum of fusion_final_score
}

// GradeTotals returns, per fusion grade present in p, the sample count, compliant count
// and score sum. Whole hours come from the hourly rollup sqal_sample_hourly (migration
// 00040, exact: maintained by statement triggers on every write), and only the partial
// hours at the edges of p from sensor_samples, so an aggregate over months of a million
// samples reads a few thousand rollup rows.
func GradeTotals(ctx context.Context, db Querier, p Period) (map[string]GradeTotal, error) {
	// Whole hours [hs, he): buckets entirely inside the period.
	var hs, he *time.Time
	if p.Start != nil {
		t := p.Start.UTC().Truncate(time.Hour)
		if t.Before(*p.Start) {
			t = t.Add(time.Hour)
		}
		hs = &t
	}
	if p.End != nil {
		// Inclusive end: a sample at exactly End lies in the partial hour that starts
		// at floor(End). Exclusive end: End is midnight, so the floor is End itself.
		t := p.End.UTC().Truncate(time.Hour)
		he = &t
	}
	var args []any
	bind := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	device := ""
	if p.DeviceID != "" {
		device = " AND device_id = " + bind(p.DeviceID)
	}
	endOp := "<="
	if p.EndExclusive {
		endOp = "<"
	}
	const raw = `SELECT fusion_final_grade, 1, CASE WHEN fusion_is_compliant THEN 1 ELSE 0 END, fusion_final_score
  FROM sensor_samples WHERE `
	var q string
	if hs != nil && he != nil && !hs.Before(*he) {
		// Less than one whole hour: every sample from the table.
		q = raw + `"timestamp" >= ` + bind(*p.Start) + ` AND "timestamp" ` + endOp + ` ` + bind(*p.End) + device
	} else {
		q = `SELECT grade, n, n_compliant, sum_score FROM sqal_sample_hourly WHERE TRUE` + device
		if hs != nil {
			q += " AND bucket >= " + bind(*hs)
		}
		if he != nil {
			q += " AND bucket < " + bind(*he)
		}
		// The edges [Start, hs) and [he, End]: at most one partial hour each.
		var edges []string
		if hs != nil {
			edges = append(edges, `("timestamp" >= `+bind(*p.Start)+` AND "timestamp" < `+bind(*hs)+`)`)
		}
		if he != nil {
			edges = append(edges, `("timestamp" >= `+bind(*he)+` AND "timestamp" `+endOp+` `+bind(*p.End)+`)`)
		}
		if len(edges) > 0 {
			q += "\n  UNION ALL\n  " + raw + `(` + strings.Join(edges, " OR ") + `)` + device
		}
	}
	rows, err := db.Query(ctx, `SELECT grade, sum(n)::bigint, sum(nc)::bigint, sum(s) FROM (`+q+`) AS parts(grade, n, nc, s) GROUP BY grade`, args...)
	if err != nil {
		return nil, fmt.Errorf("sum grades: %w", err)
	}
	out := map[string]GradeTotal{}
	var g string
	var t GradeTotal
	if _, err := pgx.ForEachRow(rows, []any{&g, &t.N, &t.Compliant, &t.SumScore}, func() error {
		if t.N > 0 { // a rollup row emptied by deletes
			out[g] = t
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sum grades: %w", err)
	}
	return out, nil
}

// Sum adds the totals of every grade.
func Sum(totals map[string]GradeTotal) GradeTotal {
	var s GradeTotal
	for _, t := range totals {
		s.N += t.N
		s.Compliant += t.Compliant
		s.SumScore += t.SumScore
	}
	return s
}
