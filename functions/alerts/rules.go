package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/sample"
)

// User alert rules (table alert_rules, written through reports-api /api/alerts/rules):
// every enabled rule whose condition holds for the sample raises one alert of type
// alert.RuleTypePrefix + rule id (41 characters, alert_type is varchar(50)).

// selectRules lists the enabled rules in creation order. The transaction is scoped to
// the event's organisation, so row-level security shows that organisation's rules only.
const selectRules = `SELECT id::text, name, condition, severity FROM alert_rules WHERE enabled ORDER BY created_at, id`

type userRule struct {
	ID, Name, Condition, Severity string
}

// userRuleAlerts evaluates the enabled user rules on s. A rule whose condition does not
// parse (written before conditions were checked, or by SQL) is skipped: one warning per
// event names them all, and the event still succeeds.
func userRuleAlerts(ctx context.Context, tx pgx.Tx, s sample.StoredEvent) ([]alert.Alert, error) {
	rows, err := tx.Query(ctx, selectRules)
	if err != nil {
		return nil, fmt.Errorf("alerts: read alert rules: %w", err)
	}
	rules, err := pgx.CollectRows(rows, pgx.RowToStructByPos[userRule])
	if err != nil {
		return nil, fmt.Errorf("alerts: read alert rules: %w", err)
	}
	in := ruleValues(s)
	var out []alert.Alert
	var skipped []string
	for _, r := range rules {
		c, err := alert.ParseCondition(r.Condition)
		if err != nil {
			skipped = append(skipped, r.ID+": "+err.Error())
			continue
		}
		if c.Eval(in) {
			out = append(out, ruleAlert(r, c, in))
		}
	}
	if len(skipped) > 0 {
		slog.WarnContext(ctx, "alerts: skipped alert rules whose condition does not parse",
			"sample_id", s.SampleID, "rules", skipped)
	}
	return out, nil
}

// ruleValues are the variables of a condition for s.
func ruleValues(s sample.StoredEvent) alert.RuleInput {
	score := s.FinalScore
	return alert.RuleInput{QualityScore: &score, Grade: s.FinalGrade, VolumeMM3: s.VolumeMM3, HeightMM: s.AvgHeightMM}
}

// ruleAlert is the alert rule r raises: severity and title from the rule, message
// `Règle « <name> » : <canonical condition> (valeur : <value>)`, context rule_id,
// rule_name, condition and the value of each variable the condition reads. A rule of one
// numeric comparison also fills threshold (its literal) and actual (the value); with
// several comparisons or for grade there is no single threshold, and the message lists
// the values: (valeurs : quality_score 0.3574, volume_mm3 150).
func ruleAlert(r userRule, c alert.Condition, in alert.RuleInput) alert.Alert {
	a := alert.Alert{
		Type:     alert.RuleTypePrefix + r.ID,
		Severity: r.Severity,
		Title:    r.Name,
		Context:  map[string]any{"rule_id": r.ID, "rule_name": r.Name, "condition": c.String()},
	}
	if cmp, ok := c.Single(); ok && cmp.Numeric() {
		_, actual := cmp.Eval(in) // not nil: the rule matched
		threshold := cmp.Number
		a.Threshold, a.Actual = &threshold, actual
	}
	var values []string
	for _, v := range c.Variables() {
		text, value := variableValue(v, in)
		a.Context[v] = value
		values = append(values, v+" "+text)
	}
	if len(values) == 1 {
		// "(valeur : 0.3574)": the condition names the variable already.
		_, text, _ := strings.Cut(values[0], " ")
		a.Message = fmt.Sprintf("Règle « %s » : %s (valeur : %s)", r.Name, c.String(), text)
	} else {
		a.Message = fmt.Sprintf("Règle « %s » : %s (valeurs : %s)", r.Name, c.String(), strings.Join(values, ", "))
	}
	return a
}

// variableValue is the value of variable v in the message (text) and in the context
// (nil when the sample has none: an "or" rule can match without it).
func variableValue(v string, in alert.RuleInput) (text string, value any) {
	var x *float64
	switch v {
	case alert.VarGrade:
		if in.Grade == "" {
			return "absente", nil
		}
		return in.Grade, in.Grade
	case alert.VarQualityScore:
		x = in.QualityScore
	case alert.VarVolumeMM3:
		x = in.VolumeMM3
	case alert.VarHeightMM:
		x = in.HeightMM
	}
	if x == nil {
		return "absente", nil
	}
	return formatValue(*x), *x
}

// formatValue writes x with at most four decimals (the precision of actual_value),
// without trailing zeros: 0.3574, 1037036.0584, 150.
func formatValue(x float64) string {
	v := strconv.FormatFloat(x, 'f', 4, 64)
	v = strings.TrimRight(strings.TrimRight(v, "0"), ".")
	if v == "-0" {
		v = "0"
	}
	return v
}
