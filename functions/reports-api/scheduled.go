package reportsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
)

var frequencies = []string{"daily", "weekly", "monthly", "quarterly"}

// nextRun is the first run of a schedule of frequency after from.
func nextRun(frequency string, from time.Time) time.Time {
	switch frequency {
	case "weekly":
		return from.AddDate(0, 0, 7)
	case "monthly":
		return from.AddDate(0, 1, 0)
	case "quarterly":
		return from.AddDate(0, 3, 0)
	}
	return from.AddDate(0, 0, 1)
}

// scheduledReport is one schedule as the former target returned it (camelCase).
type scheduledReport struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	ReportConfig json.RawMessage `json:"reportConfig"`
	Frequency    string          `json:"frequency"`
	Enabled      bool            `json:"enabled"`
	NextRun      *stamp          `json:"nextRun"`
	LastRun      *stamp          `json:"lastRun"`
	Recipients   json.RawMessage `json:"recipients"`
	CreatedBy    *string         `json:"createdBy"`
	CreatedAt    stamp           `json:"createdAt"`
	UpdatedAt    stamp           `json:"updatedAt"`
}

const scheduledColumns = `id, name, report_config, frequency, enabled, next_run, last_run, recipients, created_by, created_at, updated_at`

func scanScheduled(row pgx.Row) (scheduledReport, error) {
	var sr scheduledReport
	var id uuid.UUID
	var next, last *time.Time
	var created, updated time.Time
	if err := row.Scan(&id, &sr.Name, &sr.ReportConfig, &sr.Frequency, &sr.Enabled, &next, &last, &sr.Recipients,
		&sr.CreatedBy, &created, &updated); err != nil {
		return scheduledReport{}, err
	}
	sr.ID = id.String()
	sr.NextRun, sr.LastRun = stampPtr(next), stampPtr(last)
	sr.CreatedAt, sr.UpdatedAt = stamp(created), stamp(updated)
	return sr, nil
}

// scheduleFields is a validated schedule body; nil = not sent.
type scheduleFields struct {
	Name         *string
	ReportConfig json.RawMessage
	Frequency    *string
	Enabled      *bool
	Recipients   *[]string
}

// parseScheduleFields reads a POST (create: name and frequency required) or PATCH body.
func parseScheduleFields(b []byte, create bool) (scheduleFields, error) {
	f, err := parseFields(b, !create)
	if err != nil {
		return scheduleFields{}, err
	}
	var sf scheduleFields
	if create {
		name := f.required(200, "name")
		sf.Name = &name
		if !f.has("frequency") {
			f.add(httpapi.Missing("body", "frequency"))
		}
	} else {
		sf.Name = f.str(200, "name")
		if sf.Name != nil && *sf.Name == "" {
			f.add(httpapi.ErrorItem{Type: "string_too_short", Loc: []any{"body", "name"},
				Msg: "String should have at least 1 character", Input: "", Ctx: map[string]any{"min_length": 1}})
		}
	}
	sf.ReportConfig = f.object("report_config", "reportConfig")
	sf.Frequency = f.enum(frequencies, "frequency")
	sf.Enabled = f.boolean("enabled", "isEnabled")
	sf.Recipients = f.strList(100, 320, "recipients")
	if sf.Recipients != nil {
		for i, r := range *sf.Recipients {
			if !strings.Contains(r, "@") {
				f.add(httpapi.ErrorItem{Type: "value_error", Loc: []any{"body", "recipients", i},
					Msg: "value is not a valid email address: An email address must have an @-sign.", Input: r})
			}
		}
	}
	return sf, f.err()
}

func (s *Server) listScheduled(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	pg := readPage(p)
	if !p.Check(w) {
		return
	}
	listPage(s, w, r, "scheduledReports", `SELECT count(*) FROM scheduled_reports`,
		`SELECT `+scheduledColumns+` FROM scheduled_reports ORDER BY created_at DESC, id DESC`, pg, scanScheduled)
}

func (s *Server) createScheduled(w http.ResponseWriter, r *http.Request) {
	sf, reqOrg, ok := readWithOrganization(s, w, r, func(b []byte) (scheduleFields, error) { return parseScheduleFields(b, true) })
	if !ok {
		return
	}
	cfg := sf.ReportConfig
	if cfg == nil {
		cfg = json.RawMessage(`{}`)
	}
	enabled := sf.Enabled == nil || *sf.Enabled
	recipients := []string{}
	if sf.Recipients != nil {
		recipients = *sf.Recipients
	}
	now := s.now()
	var next *time.Time
	if enabled {
		n := nextRun(*sf.Frequency, now)
		next = &n
	}
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		// Its reports are made in, and from the samples of, this organisation.
		org, err := targetOrganization(ctx, tx, reqOrg)
		if err != nil {
			return 0, nil, err
		}
		sr, err := scanScheduled(tx.QueryRow(ctx, `INSERT INTO scheduled_reports (name, report_config, frequency, enabled,
			recipients, next_run, created_by, created_at, updated_at, organization_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
		RETURNING `+scheduledColumns, *sf.Name, cfg, *sf.Frequency, enabled, recipients, next, actor(r), now, org))
		if err != nil {
			return 0, nil, fmt.Errorf("create scheduled report: %w", err)
		}
		if err := record(ctx, tx, r, audit.ActionCreate, "scheduled_report", sr.ID,
			fmt.Sprintf("Scheduled report %q (%s) created", sr.Name, sr.Frequency), nil); err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, withMessage(sr, "Scheduled report created"), nil
	})
}

func (s *Server) getScheduled(w http.ResponseWriter, r *http.Request) {
	getByID(s, w, r, "schedule_id", "Scheduled report", `SELECT `+scheduledColumns+` FROM scheduled_reports WHERE id = $1`, scanScheduled)
}

// patchScheduled updates the fields sent ({enabled} is the dashboard's toggle); a new
// frequency or a re-enabled schedule gets its next run recomputed.
func (s *Server) patchScheduled(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "schedule_id", "Scheduled report")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sf, ok := readInput(s, w, r, func(b []byte) (scheduleFields, error) { return parseScheduleFields(b, false) })
	if !ok {
		return
	}
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		before, err := lockRow(ctx, tx, `SELECT `+scheduledColumns+` FROM scheduled_reports WHERE id = $1 FOR UPDATE`, id, "Scheduled report", scanScheduled)
		if err != nil {
			return 0, nil, err
		}
		now := s.now()
		var set assignments
		set.add("name", sf.Name)
		if sf.ReportConfig != nil {
			set.add("report_config", sf.ReportConfig)
		}
		set.add("frequency", sf.Frequency)
		set.add("enabled", sf.Enabled)
		set.add("recipients", sf.Recipients)
		freq, enabled := before.Frequency, before.Enabled
		if sf.Frequency != nil {
			freq = *sf.Frequency
		}
		if sf.Enabled != nil {
			enabled = *sf.Enabled
		}
		if enabled && (sf.Frequency != nil || !before.Enabled || before.NextRun == nil) {
			n := nextRun(freq, now)
			set.add("next_run", &n)
		} else if !enabled {
			set.add("next_run", (*time.Time)(nil))
		}
		set.add("updated_at", &now)
		after, err := scanScheduled(tx.QueryRow(ctx, `UPDATE scheduled_reports SET `+set.sql(2)+` WHERE id = $1 RETURNING `+scheduledColumns,
			append([]any{id}, set.args...)...))
		if err != nil {
			return 0, nil, fmt.Errorf("update scheduled report: %w", err)
		}
		if err := record(ctx, tx, r, audit.ActionUpdate, "scheduled_report", after.ID,
			fmt.Sprintf("Scheduled report %q updated", after.Name), map[string]any{"before": before, "after": after}); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, withMessage(after, "Scheduled report updated"), nil
	})
}

func (s *Server) deleteScheduled(w http.ResponseWriter, r *http.Request) {
	s.deleteRow(w, r, "schedule_id", "Scheduled report", "scheduled_reports", "name", "scheduled_report", "Scheduled report deleted")
}

// deleteRow deletes one row by uuid with its audit entry; label names it in the log.
// table and labelColumn are constants of the callers, never request input.
func (s *Server) deleteRow(w http.ResponseWriter, r *http.Request, param, what, table, labelColumn, resource, message string) {
	id, err := pathID(r, param, what)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		var label string
		err := tx.QueryRow(ctx, `DELETE FROM `+table+` WHERE id = $1 RETURNING `+labelColumn+`::text`, id).Scan(&label)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, notFound(what)
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
			return 0, nil, httpapi.Errorf(http.StatusConflict, "%s is still in use", what)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("delete %s: %w", resource, err)
		}
		if err := record(ctx, tx, r, audit.ActionDelete, resource, id.String(), fmt.Sprintf("%s %q deleted", what, label), nil); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]string{"id": id.String(), "message": message}, nil
	})
}

// change runs fn in a transaction and answers its result once the transaction (with
// its audit row) is committed, so a client never sees a success that was rolled back.
func (s *Server) change(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, tx pgx.Tx) (int, any, error)) {
	ctx := r.Context()
	tx, err := s.db.Begin(ctx)
	if err != nil {
		s.fail(w, r, fmt.Errorf("begin: %w", err))
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	status, body, err := fn(ctx, tx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := tx.Commit(ctx); err != nil {
		s.fail(w, r, fmt.Errorf("commit: %w", err))
		return
	}
	httpapi.JSON(w, status, body)
}

// assignments builds the SET list of a partial update; only sent (non-nil) values are
// assigned, each as a bind parameter. Column names are constants of the callers.
type assignments struct {
	cols []string
	args []any
}

func (a *assignments) add(col string, v any) {
	switch x := v.(type) {
	case *string:
		if x == nil {
			return
		}
	case *bool:
		if x == nil {
			return
		}
	case *int:
		if x == nil {
			return
		}
	case *[]string:
		if x == nil {
			return
		}
	}
	a.cols = append(a.cols, col)
	a.args = append(a.args, v)
}

// sql renders "col = $n, ..." with parameters numbered from first.
func (a *assignments) sql(first int) string {
	parts := make([]string, len(a.cols))
	for i, c := range a.cols {
		parts[i] = fmt.Sprintf("%s = $%d", c, first+i)
	}
	return strings.Join(parts, ", ")
}
