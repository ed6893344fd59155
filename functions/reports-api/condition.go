package reportsapi

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A rule condition is checked when it is written, so the alerts step can evaluate
// stored rules without surprises and without eval (the former target substituted
// values into Python source and eval'd it, §2.20 #8). Grammar:
//
//	condition  = comparison { ("and" | "&&" | "or" | "||") comparison }   ("and" binds tighter)
//	comparison = variable op literal
//	variable   = quality_score | volume_mm3 | height_mm   (numbers)  |  grade  (string)
//	op         = < | <= | > | >= | == | !=                 (grade: == and != only)
//	literal    = number | 'text' | "text"

// conditionVars are the variables a condition may name, and whether each is a number.
var conditionVars = map[string]bool{"quality_score": true, "volume_mm3": true, "height_mm": true, "grade": false}

// comparison is one "variable op literal" term.
type comparison struct {
	Var string
	Op  string
	Num float64
	Str string
}

// condition is a parsed condition in disjunctive normal form: any of all.
type condition [][]comparison

// maxComparisons bounds the size of a condition.
const maxComparisons = 16

// parseCondition parses and type-checks s.
func parseCondition(s string) (condition, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty condition")
	}
	var out condition
	var conj []comparison
	n := 0
	for i := 0; ; {
		if i+3 > len(toks) {
			return nil, fmt.Errorf("incomplete comparison at %q", strings.Join(toks[i:], " "))
		}
		c, err := parseComparison(toks[i], toks[i+1], toks[i+2])
		if err != nil {
			return nil, err
		}
		if n++; n > maxComparisons {
			return nil, fmt.Errorf("more than %d comparisons", maxComparisons)
		}
		conj = append(conj, c)
		i += 3
		if i == len(toks) {
			return append(out, conj), nil
		}
		switch strings.ToLower(toks[i]) {
		case "and", "&&":
		case "or", "||":
			out, conj = append(out, conj), nil
		default:
			return nil, fmt.Errorf("expected and/or, found %q", toks[i])
		}
		i++
	}
}

func parseComparison(v, op, lit string) (comparison, error) {
	numeric, ok := conditionVars[v]
	if !ok {
		return comparison{}, fmt.Errorf("unknown variable %q (use quality_score, grade, volume_mm3 or height_mm)", v)
	}
	switch op {
	case "<", "<=", ">", ">=", "==", "!=":
	default:
		return comparison{}, fmt.Errorf("unknown operator %q", op)
	}
	c := comparison{Var: v, Op: op}
	if numeric {
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil || lit[0] == '\'' || lit[0] == '"' || math.IsNaN(f) || math.IsInf(f, 0) {
			return comparison{}, fmt.Errorf("%s compares with a number, not %s", v, lit)
		}
		c.Num = f
		return c, nil
	}
	if op != "==" && op != "!=" {
		return comparison{}, fmt.Errorf("grade supports == and != only")
	}
	if len(lit) < 2 || (lit[0] != '\'' && lit[0] != '"') {
		return comparison{}, fmt.Errorf("grade compares with a quoted text, not %s", lit)
	}
	c.Str = lit[1 : len(lit)-1]
	return c, nil
}

// tokenize splits s into identifiers, operators, numbers and quoted strings (quotes
// kept).
func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated string")
			}
			toks = append(toks, s[i:i+j+2])
			i += j + 2
		case strings.ContainsRune("<>=!&|", rune(c)):
			j := i + 1
			if j < len(s) && (s[j] == '=' || (c == '&' && s[j] == '&') || (c == '|' && s[j] == '|')) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || c == '+' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// eval reports whether the condition holds for the values (a missing number is false).
func (c condition) eval(nums map[string]float64, grade string) bool {
	for _, conj := range c {
		all := true
		for _, t := range conj {
			if !t.holds(nums, grade) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (t comparison) holds(nums map[string]float64, grade string) bool {
	if !conditionVars[t.Var] {
		return (grade == t.Str) == (t.Op == "==")
	}
	v, ok := nums[t.Var]
	if !ok {
		return false
	}
	switch t.Op {
	case "<":
		return v < t.Num
	case "<=":
		return v <= t.Num
	case ">":
		return v > t.Num
	case ">=":
		return v >= t.Num
	case "==":
		return v == t.Num
	}
	return v != t.Num
}
