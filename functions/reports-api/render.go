package reportsapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/database"
)

// file is a generated report.
type file struct {
	Name        string
	ContentType string
	Content     []byte
	Rows        int
}

// sampleColumns are the columns of a report's sample table, computed in SQL from
// sensor_samples (every value already text, NULL when unknown), in file order.
var sampleColumns = []struct {
	Name    string
	Expr    string
	Numeric bool
}{
	{"timestamp", `to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, false},
	{"sample_id", `sample_id`, false},
	{"device_id", `device_id`, false},
	{"lot_abattage", `lot_abattage`, false},
	{"grade", `fusion_final_grade`, false},
	{"quality_score", `fusion_final_score::text`, true},
	{"tof_score", `COALESCE(fusion_vl53l8ch_score, vl53l8ch_quality_score)::text`, true},
	{"spectral_score", `COALESCE(fusion_as7341_score, as7341_quality_score)::text`, true},
	{"volume_mm3", `vl53l8ch_volume_mm3::text`, true},
	{"avg_height_mm", `vl53l8ch_avg_height_mm::text`, true},
	{"freshness_index", `as7341_freshness_index::text`, true},
	{"fat_quality_index", `as7341_fat_quality_index::text`, true},
	{"oxidation_index", `as7341_oxidation_index::text`, true},
	{"defect_count", `vl53l8ch_defect_count::text`, true},
	{"compliant", `fusion_is_compliant::text`, false},
}

// periodWhere selects the samples of the report's period ($1 .. $2, both inclusive).
const periodWhere = `"timestamp" >= $1 AND "timestamp" <= $2`

func sampleSelect() string {
	exprs := make([]string, len(sampleColumns))
	for i, c := range sampleColumns {
		exprs[i] = c.Expr + ` AS ` + c.Name
	}
	return `SELECT ` + strings.Join(exprs, ", ") + ` FROM sensor_samples WHERE ` + periodWhere + ` ORDER BY "timestamp", sample_id`
}

// summary is the period's aggregate, computed in SQL.
type summary struct {
	Total          int64
	AverageQuality float64
	MinQuality     float64
	MaxQuality     float64
	Compliant      int64
	Devices        int64
	Grades         []gradeCount // by grade, A+ first
}

type gradeCount struct {
	Grade string
	Count int64
}

const summarySQL = `SELECT count(*), COALESCE(avg(fusion_final_score), 0), COALESCE(min(fusion_final_score), 0),
	COALESCE(max(fusion_final_score), 0), count(*) FILTER (WHERE fusion_is_compliant), count(DISTINCT device_id)
FROM sensor_samples WHERE ` + periodWhere

const gradesSQL = `SELECT fusion_final_grade, count(*) FROM sensor_samples WHERE ` + periodWhere + `
GROUP BY 1 ORDER BY array_position(ARRAY['A+','A','B','C','REJECT'], fusion_final_grade::text) NULLS LAST, 1`

func readSummary(ctx context.Context, q pgx.Tx, start, end time.Time) (summary, error) {
	var s summary
	err := q.QueryRow(ctx, summarySQL, start, end).Scan(&s.Total, &s.AverageQuality, &s.MinQuality, &s.MaxQuality, &s.Compliant, &s.Devices)
	if err != nil {
		return summary{}, fmt.Errorf("summarise samples: %w", err)
	}
	rows, err := q.Query(ctx, gradesSQL, start, end)
	if err != nil {
		return summary{}, fmt.Errorf("grade distribution: %w", err)
	}
	s.Grades, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (gradeCount, error) {
		var g gradeCount
		return g, r.Scan(&g.Grade, &g.Count)
	})
	if err != nil {
		return summary{}, fmt.Errorf("grade distribution: %w", err)
	}
	return s, nil
}

// render builds the report file of jb from the samples of its period. Every read runs
// in one repeatable-read, read-only transaction so the summary and the rows agree, in
// the scope of ctx: the report's organisation (jobRunner.run), whose samples only it
// reads.
func render(ctx context.Context, db *database.DB, jb job, maxRows int, now time.Time) (file, error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return file{}, fmt.Errorf("begin report read: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	sum, err := readSummary(ctx, tx, jb.Start, jb.End)
	if err != nil {
		return file{}, err
	}
	if sum.Total > int64(maxRows) {
		return file{}, &publicError{fmt.Sprintf("The period holds %d samples, more than the %d a report may contain; choose a shorter period",
			sum.Total, maxRows)}
	}
	base := fileBase(jb)
	switch jb.Format {
	case "csv":
		rows, err := sampleRows(ctx, tx, jb)
		if err != nil {
			return file{}, err
		}
		b, err := renderCSV(rows)
		return file{Name: base + ".csv", ContentType: "text/csv; charset=utf-8", Content: b, Rows: len(rows)}, err
	case "json":
		b, err := renderJSON(ctx, tx, jb, now)
		return file{Name: base + ".json", ContentType: "application/json", Content: b, Rows: int(sum.Total)}, err
	case "excel":
		rows, err := sampleRows(ctx, tx, jb)
		if err != nil {
			return file{}, err
		}
		b, err := renderXLSX(rows)
		return file{Name: base + ".xlsx", ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
			Content: b, Rows: len(rows)}, err
	case "pdf":
		return file{Name: base + ".pdf", ContentType: "application/pdf", Content: renderPDF(jb, sum, now), Rows: int(sum.Total)}, nil
	}
	return file{}, &publicError{fmt.Sprintf("Unsupported format %q", jb.Format)}
}

// fileBase is the attachment name without extension: type, period end and short id.
func fileBase(jb job) string {
	typ := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, clip(jb.ReportType, 40))
	return fmt.Sprintf("sqal_report_%s_%s_%s", typ, jb.End.UTC().Format("20060102"), jb.ID.String()[:8])
}

// sampleRows reads the sample table of the period (NULL cells as nil).
func sampleRows(ctx context.Context, tx pgx.Tx, jb job) ([][]*string, error) {
	rows, err := tx.Query(ctx, sampleSelect(), jb.Start, jb.End)
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]*string, error) {
		cells := make([]*string, len(sampleColumns))
		dst := make([]any, len(cells))
		for i := range cells {
			dst[i] = &cells[i]
		}
		return cells, r.Scan(dst...)
	})
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	return out, nil
}

func renderCSV(rows [][]*string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := make([]string, len(sampleColumns))
	for i, c := range sampleColumns {
		header[i] = c.Name
	}
	if err := w.Write(header); err != nil {
		return nil, fmt.Errorf("write CSV: %w", err)
	}
	rec := make([]string, len(sampleColumns))
	for _, row := range rows {
		for i, c := range row {
			rec[i] = ""
			if c != nil {
				rec[i] = csvSafe(*c)
			}
		}
		if err := w.Write(rec); err != nil {
			return nil, fmt.Errorf("write CSV: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("write CSV: %w", err)
	}
	return buf.Bytes(), nil
}

// csvSafe defuses spreadsheet formulas in text cells (device ids and lots come from
// devices): a leading =, +, - or @ is prefixed with a quote. Numbers are left alone.
func csvSafe(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '@', '\t', '\r':
		return "'" + s
	case '-':
		if !isNumber(s) {
			return "'" + s
		}
	}
	return s
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

// renderJSON builds the whole JSON document in SQL: report header, summary, grade
// distribution and the samples of the period.
func renderJSON(ctx context.Context, tx pgx.Tx, jb job, now time.Time) ([]byte, error) {
	const q = `WITH s AS (%s)
SELECT jsonb_build_object(
  'report', jsonb_build_object('id', $3::text, 'title', $4::text, 'reportType', $5::text,
    'startDate', $6::text, 'endDate', $7::text, 'generatedAt', $8::text),
  'summary', (SELECT jsonb_build_object(
      'totalSamples', count(*),
      'averageQuality', COALESCE(avg(quality_score::float8), 0),
      'minQuality', COALESCE(min(quality_score::float8), 0),
      'maxQuality', COALESCE(max(quality_score::float8), 0),
      'compliantSamples', count(*) FILTER (WHERE compliant = 'true'),
      'complianceRate', CASE WHEN count(*) = 0 THEN 0
        ELSE round(100.0 * count(*) FILTER (WHERE compliant = 'true') / count(*), 2) END,
      'devices', count(DISTINCT device_id),
      'gradeDistribution', COALESCE((SELECT jsonb_object_agg(grade, n)
        FROM (SELECT grade, count(*) AS n FROM s GROUP BY grade) g), '{}'::jsonb))
    FROM s),
  'samples', COALESCE((SELECT jsonb_agg(jsonb_build_object(%s) ORDER BY s.timestamp, s.sample_id) FROM s), '[]'::jsonb)
)::text`
	// Numeric columns go out as JSON numbers, the others as strings.
	pairs := make([]string, len(sampleColumns))
	for i, c := range sampleColumns {
		v := "s." + c.Name
		if c.Numeric {
			v = "s." + c.Name + "::numeric"
		} else if c.Name == "compliant" {
			v = "s.compliant::boolean"
		}
		pairs[i] = fmt.Sprintf("'%s', %s", c.Name, v)
	}
	sql := fmt.Sprintf(q, strings.TrimSuffix(sampleSelect(), ` ORDER BY "timestamp", sample_id`), strings.Join(pairs, ", "))
	var doc string
	err := tx.QueryRow(ctx, sql, jb.Start, jb.End, jb.ID.String(), jb.Title, jb.ReportType,
		jb.Start.UTC().Format(time.RFC3339Nano), jb.End.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano)).Scan(&doc)
	if err != nil {
		return nil, fmt.Errorf("build JSON report: %w", err)
	}
	return []byte(doc), nil
}
