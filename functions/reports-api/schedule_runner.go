package reportsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// maxDuePerTick bounds the schedules materialised at once, so a long outage does not
// start every overdue report in one burst.
const maxDuePerTick = 50

// period is the window a scheduled report covers: the frequency's own period, ending
// when it runs.
func period(frequency string, end time.Time) time.Time {
	switch frequency {
	case "weekly":
		return end.AddDate(0, 0, -7)
	case "monthly":
		return end.AddDate(0, -1, 0)
	case "quarterly":
		return end.AddDate(0, -3, 0)
	}
	return end.AddDate(0, 0, -1)
}

// runDue turns every enabled schedule whose next run has come into a report job and
// moves the schedule to its next run, in one transaction; the jobs start after the
// commit. Schedules locked by another instance are skipped (SKIP LOCKED), so each
// due run produces one report. A schedule overdue by several periods runs once: its
// next run is computed from now, not replayed.
//
// Schedules of every organisation are due (cross-organisation scope); each report is
// created in its schedule's organisation.
func (j *jobRunner) runDue(ctx context.Context) (int, error) {
	ctx = systemScope(ctx)
	now := j.now()
	tx, err := j.db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("run scheduled reports: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, `SELECT id, name, report_config, frequency, organization_id::text FROM scheduled_reports
		WHERE enabled AND next_run <= $1 ORDER BY next_run LIMIT $2 FOR UPDATE SKIP LOCKED`, now, maxDuePerTick)
	if err != nil {
		return 0, fmt.Errorf("read due schedules: %w", err)
	}
	type due struct {
		id        uuid.UUID
		name      string
		config    []byte
		frequency string
		org       string
	}
	var list []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.name, &d.config, &d.frequency, &d.org); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read due schedules: %w", err)
		}
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read due schedules: %w", err)
	}
	var ids []uuid.UUID
	for _, d := range list {
		typ, format := scheduledKind(d.config)
		params, _ := json.Marshal(map[string]string{"scheduled_report_id": d.id.String(),
			"start_date": period(d.frequency, now).UTC().Format(time.RFC3339Nano), "end_date": now.UTC().Format(time.RFC3339Nano)})
		var id uuid.UUID
		err := tx.QueryRow(ctx, `INSERT INTO reports (title, report_type, format, start_date, end_date, parameters,
			created_by, created_at, organization_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $5, $8) RETURNING id`,
			clip(d.name, 300), typ, format, period(d.frequency, now), now, params, "scheduler", d.org).Scan(&id)
		if err != nil {
			return 0, fmt.Errorf("create report of schedule %s: %w", d.id, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE scheduled_reports SET last_run = $2, next_run = $3, updated_at = $2 WHERE id = $1`,
			d.id, now, nextRun(d.frequency, now)); err != nil {
			return 0, fmt.Errorf("advance schedule %s: %w", d.id, err)
		}
		ids = append(ids, id)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("run scheduled reports: %w", err)
	}
	for _, id := range ids {
		j.submit(id)
	}
	return len(ids), nil
}

// scheduledKind reads the report type and format of a schedule's report_config
// (snake_case or camelCase keys); an unknown format falls back to pdf, the former
// target's default, rather than failing every run.
func scheduledKind(config []byte) (typ, format string) {
	var c map[string]any
	_ = json.Unmarshal(config, &c)
	typ, format = "scheduled", "pdf"
	for _, k := range []string{"report_type", "reportType", "type"} {
		if v, ok := c[k].(string); ok && v != "" {
			typ = clip(v, 100)
			break
		}
	}
	if v, ok := c["format"].(string); ok && contains(reportFormats, v) {
		format = v
	}
	return typ, format
}

// scheduleLoop runs due schedules every interval until ctx is done. With scale to zero
// no instance may be up when a schedule comes due: the run then happens when the next
// instance starts (resume) or ticks.
func (j *jobRunner) scheduleLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := j.runDue(ctx); err != nil {
				j.logger.ErrorContext(ctx, "run scheduled reports", "error", err)
			} else if n > 0 {
				j.logger.InfoContext(ctx, "scheduled reports started", "count", n)
			}
		}
	}
}
