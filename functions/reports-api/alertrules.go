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

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
)

var severities = []string{"info", "warning", "critical"}

// rule is an alert rule in the snake_case shape its only client (AlertRulesManager)
// reads; updated_at is absent until the first update, as in the former target.
type rule struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Condition      string   `json:"condition"`
	Severity       string   `json:"severity"`
	Enabled        bool     `json:"enabled"`
	NotifyChannels []string `json:"notify_channels"`
	CreatedAt      stamp    `json:"created_at"`
	UpdatedAt      *stamp   `json:"updated_at,omitempty"`
}

const ruleColumns = `id, name, condition, severity, enabled, notify_channels, created_at, updated_at`

func scanRule(row pgx.Row) (rule, error) {
	var ru rule
	var id uuid.UUID
	var channels json.RawMessage
	var created time.Time
	var updated *time.Time
	if err := row.Scan(&id, &ru.Name, &ru.Condition, &ru.Severity, &ru.Enabled, &channels, &created, &updated); err != nil {
		return rule{}, err
	}
	if err := json.Unmarshal(channels, &ru.NotifyChannels); err != nil || ru.NotifyChannels == nil {
		ru.NotifyChannels = []string{}
	}
	ru.ID = id.String()
	ru.CreatedAt, ru.UpdatedAt = stamp(created), stampPtr(updated)
	return ru, nil
}

// ruleFields is a validated rule body; nil = not sent.
type ruleFields struct {
	Name, Condition, Severity *string
	Enabled                   *bool
	NotifyChannels            *[]string
}

// parseRuleFields reads a POST body (name and condition required) or a PUT body, which
// may be the full rule (edit) or just {enabled} (toggle).
func parseRuleFields(b []byte, create bool) (ruleFields, error) {
	f, err := parseFields(b, !create)
	if err != nil {
		return ruleFields{}, err
	}
	var rf ruleFields
	if create {
		name := f.required(200, "name")
		cond := f.required(500, "condition")
		rf.Name, rf.Condition = &name, &cond
	} else {
		rf.Name = f.str(200, "name")
		rf.Condition = f.str(500, "condition")
	}
	rf.Severity = f.enum(severities, "severity")
	rf.Enabled = f.boolean("enabled")
	rf.NotifyChannels = f.strList(10, 50, "notify_channels", "notifyChannels")
	if rf.Name != nil && *rf.Name == "" && !create {
		rf.Name = nil
	}
	if rf.Condition != nil && *rf.Condition != "" {
		checkCondition(f, *rf.Condition)
	} else if rf.Condition != nil {
		rf.Condition = nil
	}
	return rf, f.err()
}

// checkCondition reports a condition the alerts step could not evaluate (grammar in
// shared/alert: comparisons "variable op literal" joined by and / or) as a 422 item on
// body.condition, e.g. msg "Value error, invalid condition: unknown variable
// "qualty_score" (quality_score, grade, volume_mm3, height_mm) at column 1". The
// condition is stored as sent (trimmed).
func checkCondition(f *fields, cond string) {
	if _, err := alert.ParseCondition(cond); err != nil {
		reason := strings.TrimPrefix(err.Error(), "condition: ")
		f.add(httpapi.ErrorItem{Type: "value_error", Loc: []any{"body", "condition"},
			Msg: "Value error, invalid condition: " + reason, Input: cond, Ctx: map[string]any{"error": reason}})
	}
}

// listRules answers the bare array the dashboard reads, oldest first (the order in
// which the former target listed its in-memory rules).
func (s *Server) listRules(w http.ResponseWriter, r *http.Request) {
	rows, err := s.db.Query(r.Context(), `SELECT `+ruleColumns+` FROM alert_rules ORDER BY created_at, id`)
	if err != nil {
		s.fail(w, r, fmt.Errorf("list alert rules: %w", err))
		return
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rule, error) { return scanRule(row) })
	if err != nil {
		s.fail(w, r, fmt.Errorf("list alert rules: %w", err))
		return
	}
	if list == nil {
		list = []rule{}
	}
	httpapi.JSON(w, http.StatusOK, list)
}

func (s *Server) getRule(w http.ResponseWriter, r *http.Request) {
	getByID(s, w, r, "rule_id", "Rule", `SELECT `+ruleColumns+` FROM alert_rules WHERE id = $1`, scanRule)
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request) {
	rf, reqOrg, ok := readWithOrganization(s, w, r, func(b []byte) (ruleFields, error) { return parseRuleFields(b, true) })
	if !ok {
		return
	}
	severity, enabled, channels := "warning", true, []string{"websocket"}
	if rf.Severity != nil {
		severity = *rf.Severity
	}
	if rf.Enabled != nil {
		enabled = *rf.Enabled
	}
	if rf.NotifyChannels != nil {
		channels = *rf.NotifyChannels
	}
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		org, err := targetOrganization(ctx, tx, reqOrg)
		if err != nil {
			return 0, nil, err
		}
		ru, err := scanRule(tx.QueryRow(ctx, `INSERT INTO alert_rules (name, condition, severity, enabled, notify_channels, created_at,
			organization_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+ruleColumns, *rf.Name, *rf.Condition, severity, enabled,
			channels, s.now(), org))
		if err != nil {
			return 0, nil, fmt.Errorf("store alert rule: %w", err)
		}
		if err := record(ctx, tx, r, audit.ActionCreate, "alert_rule", ru.ID,
			fmt.Sprintf("Alert rule %q: %s (%s)", ru.Name, ru.Condition, ru.Severity), nil); err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, map[string]any{"status": "created", "id": ru.ID, "message": "Rule created", "rule": ru}, nil
	})
}

// updateRule merges the fields sent into the rule (PUT as the former target did:
// the toggle sends only {enabled}); an unknown id is a real 404.
func (s *Server) updateRule(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "rule_id", "Rule")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rf, ok := readInput(s, w, r, func(b []byte) (ruleFields, error) { return parseRuleFields(b, false) })
	if !ok {
		return
	}
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		before, err := lockRow(ctx, tx, `SELECT `+ruleColumns+` FROM alert_rules WHERE id = $1 FOR UPDATE`, id, "Rule", scanRule)
		if err != nil {
			return 0, nil, err
		}
		now := s.now()
		var set assignments
		set.add("name", rf.Name)
		set.add("condition", rf.Condition)
		set.add("severity", rf.Severity)
		set.add("enabled", rf.Enabled)
		set.add("notify_channels", rf.NotifyChannels)
		set.add("updated_at", &now)
		after, err := scanRule(tx.QueryRow(ctx, `UPDATE alert_rules SET `+set.sql(2)+` WHERE id = $1 RETURNING `+ruleColumns,
			append([]any{id}, set.args...)...))
		if err != nil {
			return 0, nil, fmt.Errorf("update alert rule: %w", err)
		}
		if err := record(ctx, tx, r, audit.ActionUpdate, "alert_rule", after.ID,
			fmt.Sprintf("Alert rule %q updated", after.Name), map[string]any{"before": before, "after": after}); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"status": "updated", "id": after.ID, "message": "Rule updated", "rule": after}, nil
	})
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "rule_id", "Rule")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		var name string
		err := tx.QueryRow(ctx, `DELETE FROM alert_rules WHERE id = $1 RETURNING name`, id).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, notFound("Rule")
		}
		if err != nil {
			return 0, nil, fmt.Errorf("delete alert rule: %w", err)
		}
		if err := record(ctx, tx, r, audit.ActionDelete, "alert_rule", id.String(), fmt.Sprintf("Alert rule %q deleted", name), nil); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"status": "deleted", "rule_id": id.String(), "message": "Rule deleted"}, nil
	})
}
