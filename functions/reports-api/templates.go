package reportsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// template is one report template (camelCase, as the former target returned it).
type template struct {
	ID              string          `json:"id"`
	Name            string          `json:"name"`
	Description     *string         `json:"description"`
	ReportType      string          `json:"reportType"`
	TemplateContent json.RawMessage `json:"templateContent"`
	Styles          json.RawMessage `json:"styles"`
	IsActive        bool            `json:"isActive"`
	IsDefault       bool            `json:"isDefault"`
	CreatedBy       *string         `json:"createdBy"`
	CreatedAt       stamp           `json:"createdAt"`
	UpdatedAt       stamp           `json:"updatedAt"`
}

const templateColumns = `id, name, description, report_type, template_content, COALESCE(styles, 'null'::jsonb),
	is_active, is_default, created_by, created_at, updated_at`

func scanTemplate(row pgx.Row) (template, error) {
	var t template
	var id uuid.UUID
	var created, updated time.Time
	if err := row.Scan(&id, &t.Name, &t.Description, &t.ReportType, &t.TemplateContent, &t.Styles, &t.IsActive,
		&t.IsDefault, &t.CreatedBy, &created, &updated); err != nil {
		return template{}, err
	}
	t.ID = id.String()
	t.CreatedAt, t.UpdatedAt = stamp(created), stamp(updated)
	return t, nil
}

// templateFields is a validated template body; nil = not sent.
type templateFields struct {
	Name, Description, ReportType *string
	TemplateContent, Styles       json.RawMessage
	IsActive, IsDefault           *bool
}

func parseTemplateFields(b []byte, create bool) (templateFields, error) {
	f, err := parseFields(b, !create)
	if err != nil {
		return templateFields{}, err
	}
	var tf templateFields
	if create {
		name := f.required(200, "name")
		typ := f.required(100, "report_type", "reportType")
		tf.Name, tf.ReportType = &name, &typ
	} else {
		tf.Name = f.str(200, "name")
		tf.ReportType = f.str(100, "report_type", "reportType")
	}
	tf.Description = f.str(10000, "description")
	tf.TemplateContent = f.object("template_content", "templateContent")
	tf.Styles = f.object("styles")
	tf.IsActive = f.boolean("is_active", "isActive")
	tf.IsDefault = f.boolean("is_default", "isDefault")
	return tf, f.err()
}

// templateWriteError maps the unique name to a 409.
func templateWriteError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return httpapi.Errorf(http.StatusConflict, "Template name already exists")
	}
	return fmt.Errorf("store template: %w", err)
}

// listTemplates returns the active templates (as the former target did); ?all=true
// includes the inactive ones.
func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	pg := readPage(p)
	all := p.Query("all").Bool(false)
	typ := p.Query("report_type").OptString(httpapi.MaxLen(100))
	if !p.Check(w) {
		return
	}
	const where = `($1 OR is_active) AND ($2::text IS NULL OR report_type = $2)`
	listPage(s, w, r, "templates", `SELECT count(*) FROM report_templates WHERE `+where,
		`SELECT `+templateColumns+` FROM report_templates WHERE `+where+` ORDER BY created_at DESC, id DESC`, pg, scanTemplate, all, typ)
}

// clearDefault keeps one default template per report type.
func clearDefault(ctx context.Context, tx pgx.Tx, reportType string, except uuid.UUID) error {
	if _, err := tx.Exec(ctx, `UPDATE report_templates SET is_default = false, updated_at = now()
		WHERE report_type = $1 AND is_default AND id <> $2`, reportType, except); err != nil {
		return fmt.Errorf("clear default template: %w", err)
	}
	return nil
}

func (s *Server) createTemplate(w http.ResponseWriter, r *http.Request) {
	tf, ok := readInput(s, w, r, func(b []byte) (templateFields, error) { return parseTemplateFields(b, true) })
	if !ok {
		return
	}
	content := tf.TemplateContent
	if content == nil {
		content = json.RawMessage(`{}`)
	}
	active := tf.IsActive == nil || *tf.IsActive
	isDefault := tf.IsDefault != nil && *tf.IsDefault
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		now := s.now()
		t, err := scanTemplate(tx.QueryRow(ctx, `INSERT INTO report_templates (name, description, report_type,
			template_content, styles, is_active, is_default, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING `+templateColumns,
			*tf.Name, tf.Description, *tf.ReportType, content, tf.Styles, active, isDefault, actor(r), now))
		if err != nil {
			return 0, nil, templateWriteError(err)
		}
		if isDefault {
			if err := clearDefault(ctx, tx, t.ReportType, uuid.MustParse(t.ID)); err != nil {
				return 0, nil, err
			}
		}
		if err := record(ctx, tx, r, audit.ActionCreate, "report_template", t.ID,
			fmt.Sprintf("Report template %q created", t.Name), nil); err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, withMessage(t, "Template created"), nil
	})
}

func (s *Server) getTemplate(w http.ResponseWriter, r *http.Request) {
	getByID(s, w, r, "template_id", "Template", `SELECT `+templateColumns+` FROM report_templates WHERE id = $1`, scanTemplate)
}

func (s *Server) patchTemplate(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "template_id", "Template")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tf, ok := readInput(s, w, r, func(b []byte) (templateFields, error) { return parseTemplateFields(b, false) })
	if !ok {
		return
	}
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		before, err := lockRow(ctx, tx, `SELECT `+templateColumns+` FROM report_templates WHERE id = $1 FOR UPDATE`, id, "Template", scanTemplate)
		if err != nil {
			return 0, nil, err
		}
		now := s.now()
		var set assignments
		if tf.Name != nil && *tf.Name != "" {
			set.add("name", tf.Name)
		}
		set.add("description", tf.Description)
		if tf.ReportType != nil && *tf.ReportType != "" {
			set.add("report_type", tf.ReportType)
		}
		if tf.TemplateContent != nil {
			set.add("template_content", tf.TemplateContent)
		}
		if tf.Styles != nil {
			set.add("styles", tf.Styles)
		}
		set.add("is_active", tf.IsActive)
		set.add("is_default", tf.IsDefault)
		set.add("updated_at", &now)
		after, err := scanTemplate(tx.QueryRow(ctx, `UPDATE report_templates SET `+set.sql(2)+` WHERE id = $1 RETURNING `+templateColumns,
			append([]any{id}, set.args...)...))
		if err != nil {
			return 0, nil, templateWriteError(err)
		}
		if after.IsDefault {
			if err := clearDefault(ctx, tx, after.ReportType, id); err != nil {
				return 0, nil, err
			}
		}
		if err := record(ctx, tx, r, audit.ActionUpdate, "report_template", after.ID,
			fmt.Sprintf("Report template %q updated", after.Name), map[string]any{"before": before, "after": after}); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, withMessage(after, "Template updated"), nil
	})
}

func (s *Server) deleteTemplate(w http.ResponseWriter, r *http.Request) {
	s.deleteRow(w, r, "template_id", "Template", "report_templates", "name", "report_template", "Template deleted")
}
