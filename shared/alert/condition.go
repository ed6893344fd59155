package alert

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// User alert rules (table alert_rules, backend-new-contract §2.14) hold a condition that
// the alerts step evaluates on every stored sample. The former target substituted the
// values into Python source and eval'd it; here a condition is one comparison or a few
// joined by and / or:
//
//	condition  = comparison { ("and" | "&&" | "or" | "||") comparison }   ("and" binds tighter)
//	comparison = variable op literal         (blanks around each part are optional)
//	variable   = quality_score | volume_mm3 | height_mm   (compared with a number)
//	           | grade                 (== or != a quoted grade: A+, A, B, C or REJECT)
//	op         = < | <= | > | >= | == | !=
//	literal    = number (0.7, -3, 1e2)  |  "text"  |  'text'
//
// e.g. quality_score < 0.7, grade == "REJECT", volume_mm3 > 150 and height_mm < 20.

// RuleTypePrefix starts the alert type of a user rule's alerts: "rule:<rule uuid>"; their
// data_context carries rule_id and rule_name.
const RuleTypePrefix = "rule:"

// Variables of a condition.
const (
	VarQualityScore = "quality_score" // fusion final score
	VarGrade        = "grade"         // normalised fusion final grade
	VarVolumeMM3    = "volume_mm3"    // vl53l8ch volume
	VarHeightMM     = "height_mm"     // vl53l8ch average height
)

// Variables lists the variables in the order error messages name them.
var Variables = []string{VarQualityScore, VarGrade, VarVolumeMM3, VarHeightMM}

// Grades are the values grade takes (normalised by ingest, contract §1.6.2).
var Grades = []string{"A+", "A", "B", "C", "REJECT"}

// Condition is a parsed condition: it holds when every comparison of one of its groups
// holds (disjunctive normal form; "and" binds tighter than "or"). Build it with
// ParseCondition.
type Condition struct {
	Any [][]Comparison
}

// MaxComparisons bounds the size of a condition.
const MaxComparisons = 16

// Comparison is one "variable op literal". Comparisons are comparable with ==.
type Comparison struct {
	Variable string  // one of Variables
	Op       string  // <, <=, >, >=, == or !=
	Number   float64 // the literal of a numeric variable (finite)
	Text     string  // the literal of grade (one of Grades)
}

// RuleInput holds the values a condition reads from a sample. A nil number or an empty
// grade is a missing value, which never matches (not even with !=).
type RuleInput struct {
	QualityScore *float64
	Grade        string
	VolumeMM3    *float64
	HeightMM     *float64
}

// operators a condition may use.
var operators = []string{"<", "<=", ">", ">=", "==", "!="}

// ParseCondition parses s (see the grammar above). Its errors start with "condition: "
// and say what is wrong and at which column (1-based, in characters).
func ParseCondition(s string) (Condition, error) {
	p := parser{s: s}
	p.blanks()
	if p.i == len(s) {
		return Condition{}, errors.New(`condition: empty (expected e.g. quality_score < 0.7)`)
	}
	var c Condition
	var all []Comparison
	for n := 1; ; n++ {
		if n > MaxComparisons {
			return Condition{}, p.errorf(p.i, "more than %d comparisons", MaxComparisons)
		}
		cmp, err := p.comparison()
		if err != nil {
			return Condition{}, err
		}
		all = append(all, cmp)
		p.blanks()
		if p.i == len(s) {
			c.Any = append(c.Any, all)
			return c, nil
		}
		at := p.i
		switch op := p.connective(); op {
		case "and":
		case "or":
			c.Any, all = append(c.Any, all), nil
		default:
			return Condition{}, p.errorf(at, "unexpected %q after %s (join comparisons with and / or)", p.token(at), cmp)
		}
		p.blanks()
	}
}

// connective reads and, &&, or, || (any case) and returns "and" or "or", or "" without
// moving.
func (p *parser) connective() string {
	rest := p.s[p.i:]
	for _, c := range []struct{ text, op string }{{"&&", "and"}, {"||", "or"}} {
		if strings.HasPrefix(rest, c.text) {
			p.i += len(c.text)
			return c.op
		}
	}
	at := p.i
	w := strings.ToLower(p.word())
	if w == "and" || w == "or" {
		return w
	}
	p.i = at
	return ""
}

// comparison reads one "variable op literal".
func (p *parser) comparison() (Comparison, error) {
	s := p.s
	var c Comparison
	at := p.i
	if at == len(s) {
		return Comparison{}, p.errorf(at, "expected a comparison (e.g. quality_score < 0.7)")
	}
	c.Variable = p.word()
	if c.Variable == "" {
		return Comparison{}, p.errorf(at, "expected a variable (%s), found %q", strings.Join(Variables, ", "), p.token(at))
	}
	if !slices.Contains(Variables, c.Variable) {
		return Comparison{}, p.errorf(at, "unknown variable %q (%s)", c.Variable, strings.Join(Variables, ", "))
	}

	p.blanks()
	opAt := p.i
	for p.i < len(s) && strings.IndexByte("<>=!", s[p.i]) >= 0 {
		p.i++
	}
	c.Op = s[opAt:p.i]
	switch {
	case opAt == len(s):
		return Comparison{}, p.errorf(opAt, "expected an operator (%s) after %s", strings.Join(operators, ", "), c.Variable)
	case c.Op == "":
		return Comparison{}, p.errorf(opAt, "expected an operator (%s) after %s, found %q", strings.Join(operators, ", "), c.Variable, p.token(opAt))
	case !slices.Contains(operators, c.Op):
		return Comparison{}, p.errorf(opAt, "unknown operator %q (%s)", c.Op, strings.Join(operators, ", "))
	}

	p.blanks()
	at = p.i
	switch {
	case p.i == len(s):
		return Comparison{}, p.errorf(at, "expected a value after %s %s", c.Variable, c.Op)
	case s[p.i] == '"' || s[p.i] == '\'':
		text, ok := p.quoted()
		if !ok {
			return Comparison{}, p.errorf(at, "unterminated string (no closing %c)", s[at])
		}
		if c.Variable != VarGrade {
			return Comparison{}, p.errorf(at, "%s compares with a number, not the string %q", c.Variable, text)
		}
		if c.Op != "==" && c.Op != "!=" {
			return Comparison{}, p.errorf(opAt, "grade supports only == and !=, not %s", c.Op)
		}
		if !slices.Contains(Grades, text) {
			return Comparison{}, p.errorf(at, "unknown grade %q (%s)", text, strings.Join(Grades, ", "))
		}
		c.Text = text
	case c.Variable == VarGrade:
		return Comparison{}, p.errorf(at, `grade compares with a quoted grade (e.g. grade == "REJECT"), not %q`, p.token(at))
	default:
		num := p.number()
		if num == "" {
			return Comparison{}, p.errorf(at, "%s compares with a number, not %q", c.Variable, p.token(at))
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsInf(f, 0) {
			return Comparison{}, p.errorf(at, "number %s is out of range", num)
		}
		c.Number = f
	}

	return c, nil
}

// String is the canonical form: single blanks, numbers in their shortest form, the grade
// in double quotes, and / or in lower case. ParseCondition reads it back to the same
// Condition.
func (c Condition) String() string {
	groups := make([]string, len(c.Any))
	for i, all := range c.Any {
		terms := make([]string, len(all))
		for j, cmp := range all {
			terms[j] = cmp.String()
		}
		groups[i] = strings.Join(terms, " and ")
	}
	return strings.Join(groups, " or ")
}

// Single returns the condition's comparison when it is exactly one.
func (c Condition) Single() (Comparison, bool) {
	if len(c.Any) == 1 && len(c.Any[0]) == 1 {
		return c.Any[0][0], true
	}
	return Comparison{}, false
}

// Variables lists the variables the condition reads, each once, in order of appearance.
func (c Condition) Variables() []string {
	var out []string
	for _, all := range c.Any {
		for _, cmp := range all {
			if !slices.Contains(out, cmp.Variable) {
				out = append(out, cmp.Variable)
			}
		}
	}
	return out
}

// Eval reports whether the condition holds for in.
func (c Condition) Eval(in RuleInput) bool {
	for _, all := range c.Any {
		holds := true
		for _, cmp := range all {
			if hit, _ := cmp.Eval(in); !hit {
				holds = false
				break
			}
		}
		if holds {
			return true
		}
	}
	return false
}

// String is the comparison in canonical form (see Condition.String).
func (c Comparison) String() string {
	if c.Variable == VarGrade {
		return c.Variable + " " + c.Op + ` "` + c.Text + `"`
	}
	return c.Variable + " " + c.Op + " " + FormatNumber(c.Number)
}

// Numeric reports whether the comparison reads a number (every variable but grade).
func (c Comparison) Numeric() bool { return c.Variable != VarGrade }

// Eval reports whether the comparison holds for in, and returns the value of a numeric
// variable (nil for grade or when the value is missing). A missing value never matches.
func (c Comparison) Eval(in RuleInput) (hit bool, actual *float64) {
	var v *float64
	switch c.Variable {
	case VarGrade:
		if in.Grade == "" {
			return false, nil
		}
		return (in.Grade == c.Text) == (c.Op == "=="), nil
	case VarQualityScore:
		v = in.QualityScore
	case VarVolumeMM3:
		v = in.VolumeMM3
	case VarHeightMM:
		v = in.HeightMM
	}
	if v == nil {
		return false, nil
	}
	x := *v
	switch c.Op {
	case "<":
		hit = x < c.Number
	case "<=":
		hit = x <= c.Number
	case ">":
		hit = x > c.Number
	case ">=":
		hit = x >= c.Number
	case "==":
		hit = x == c.Number
	case "!=":
		hit = x != c.Number
	}
	return hit, &x
}

// FormatNumber writes f in its shortest form, like encoding/json (an exponent only below
// 1e-6 or from 1e21 on): 0.7, -3, 100, 1e-7.
func FormatNumber(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// parser reads s from byte offset i.
type parser struct {
	s string
	i int
}

func (p *parser) blanks() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

// word reads an identifier: a letter or _, then letters, digits or _.
func (p *parser) word() string {
	j := p.i
	for j < len(p.s) && (isLetter(p.s[j]) || p.s[j] == '_' || j > p.i && isDigit(p.s[j])) {
		j++
	}
	w := p.s[p.i:j]
	p.i = j
	return w
}

// quoted reads a string in single or double quotes (no escapes) and returns its text.
func (p *parser) quoted() (string, bool) {
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	text := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return text, true
}

// number reads [+-]digits[.digits][(e|E)[+-]digits] (digits on at least one side of the
// point) and returns it, or "" without moving when there is none.
func (p *parser) number() string {
	j := p.i
	if j < len(p.s) && (p.s[j] == '+' || p.s[j] == '-') {
		j++
	}
	digits := 0
	for ; j < len(p.s) && isDigit(p.s[j]); j++ {
		digits++
	}
	if j < len(p.s) && p.s[j] == '.' {
		for j++; j < len(p.s) && isDigit(p.s[j]); j++ {
			digits++
		}
	}
	if digits == 0 {
		return ""
	}
	if j < len(p.s) && (p.s[j] == 'e' || p.s[j] == 'E') {
		k := j + 1
		if k < len(p.s) && (p.s[k] == '+' || p.s[k] == '-') {
			k++
		}
		if k < len(p.s) && isDigit(p.s[k]) {
			for j = k; j < len(p.s) && isDigit(p.s[j]); j++ {
			}
		}
	}
	num := p.s[p.i:j]
	p.i = j
	return num
}

// token is the text from offset at up to the next blank (for error messages).
func (p *parser) token(at int) string {
	end := strings.IndexAny(p.s[at:], " \t\r\n")
	if end < 0 {
		return p.s[at:]
	}
	return p.s[at : at+end]
}

// errorf is an error about the text at byte offset at, reported as a 1-based column.
func (p *parser) errorf(at int, format string, args ...any) error {
	col := utf8.RuneCountInString(p.s[:at]) + 1
	return fmt.Errorf("condition: %s at column %d", fmt.Sprintf(format, args...), col)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
