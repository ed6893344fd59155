package alert

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func num(x float64) *float64 { return &x }

// comparison parses cond, which must be a single comparison.
func comparison(t *testing.T, cond string) Comparison {
	t.Helper()
	c, err := ParseCondition(cond)
	if err != nil {
		t.Fatalf("ParseCondition(%q): %v", cond, err)
	}
	cmp, ok := c.Single()
	if !ok {
		t.Fatalf("%q is not one comparison: %+v", cond, c)
	}
	return cmp
}

// input is a sample every dashboard template is tested against.
var input = RuleInput{QualityScore: num(0.6), Grade: "C", VolumeMM3: num(120), HeightMM: num(25)}

func TestDashboardTemplates(t *testing.T) {
	cases := []struct {
		cond string
		want Comparison
		hit  bool
	}{
		{`quality_score < 0.7`, Comparison{Variable: VarQualityScore, Op: "<", Number: 0.7}, true},
		{`quality_score < 0.5`, Comparison{Variable: VarQualityScore, Op: "<", Number: 0.5}, false},
		{`grade == "REJECT"`, Comparison{Variable: VarGrade, Op: "==", Text: "REJECT"}, false},
		{`grade == "C"`, Comparison{Variable: VarGrade, Op: "==", Text: "C"}, true},
		{`volume_mm3 > 150`, Comparison{Variable: VarVolumeMM3, Op: ">", Number: 150}, false},
		{`volume_mm3 < 100`, Comparison{Variable: VarVolumeMM3, Op: "<", Number: 100}, false},
		{`height_mm < 20`, Comparison{Variable: VarHeightMM, Op: "<", Number: 20}, false},
		{`height_mm > 30`, Comparison{Variable: VarHeightMM, Op: ">", Number: 30}, false},
	}
	for _, tc := range cases {
		c, err := ParseCondition(tc.cond)
		if err != nil {
			t.Errorf("ParseCondition(%q): %v", tc.cond, err)
			continue
		}
		if cmp, ok := c.Single(); !ok || cmp != tc.want {
			t.Errorf("ParseCondition(%q) = %+v, want %+v", tc.cond, c, tc.want)
		}
		if got := c.String(); got != tc.cond {
			t.Errorf("String() = %q, want the template %q", got, tc.cond)
		}
		if hit := c.Eval(input); hit != tc.hit {
			t.Errorf("%q on %+v = %v, want %v", tc.cond, input, hit, tc.hit)
		}
	}
	// The same templates on a sample made to match each of them.
	bad := RuleInput{QualityScore: num(0.4), Grade: "REJECT", VolumeMM3: num(90), HeightMM: num(15)}
	big := RuleInput{QualityScore: num(0.4), Grade: "C", VolumeMM3: num(151), HeightMM: num(31)}
	for _, tc := range []struct {
		cond string
		in   RuleInput
	}{
		{`quality_score < 0.5`, bad}, {`grade == "REJECT"`, bad}, {`volume_mm3 < 100`, bad}, {`height_mm < 20`, bad},
		{`volume_mm3 > 150`, big}, {`height_mm > 30`, big},
	} {
		c, err := ParseCondition(tc.cond)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Eval(tc.in) {
			t.Errorf("%q does not match %+v", tc.cond, tc.in)
		}
	}
}

func TestParseSpellings(t *testing.T) {
	cases := []struct {
		in, canonical string
	}{
		{`quality_score<0.7`, `quality_score < 0.7`},
		{"  quality_score\t<=\n0.70  ", `quality_score <= 0.7`},
		{`height_mm >= -3`, `height_mm >= -3`},
		{`height_mm > +3`, `height_mm > 3`},
		{`volume_mm3 > 1e2`, `volume_mm3 > 100`},
		{`volume_mm3 > 1.5E+6`, `volume_mm3 > 1500000`},
		{`volume_mm3 != .5`, `volume_mm3 != 0.5`},
		{`volume_mm3 == 5.`, `volume_mm3 == 5`},
		{`quality_score > 1e-7`, `quality_score > 1e-07`},
		{`quality_score > -0`, `quality_score > -0`},
		{`grade=='A+'`, `grade == "A+"`},
		{`grade != "B"`, `grade != "B"`},
	}
	for _, tc := range cases {
		c, err := ParseCondition(tc.in)
		if err != nil {
			t.Errorf("ParseCondition(%q): %v", tc.in, err)
			continue
		}
		if got := c.String(); got != tc.canonical {
			t.Errorf("ParseCondition(%q).String() = %q, want %q", tc.in, got, tc.canonical)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, err string }{
		{``, `condition: empty (expected e.g. quality_score < 0.7)`},
		{`   `, `condition: empty (expected e.g. quality_score < 0.7)`},
		{`qualty_score < 0.7`, `condition: unknown variable "qualty_score" (quality_score, grade, volume_mm3, height_mm) at column 1`},
		{`Quality_Score < 0.7`, `condition: unknown variable "Quality_Score"`},
		{`0.7 > quality_score`, `condition: expected a variable (quality_score, grade, volume_mm3, height_mm), found "0.7" at column 1`},
		{`quality_score`, `condition: expected an operator (<, <=, >, >=, ==, !=) after quality_score at column 14`},
		{`quality_score 0.7`, `condition: expected an operator (<, <=, >, >=, ==, !=) after quality_score, found "0.7" at column 15`},
		{`quality_score = 0.7`, `condition: unknown operator "=" (<, <=, >, >=, ==, !=) at column 15`},
		{`quality_score =< 0.7`, `condition: unknown operator "=<"`},
		{`quality_score === 0.7`, `condition: unknown operator "==="`},
		{`quality_score <`, `condition: expected a value after quality_score < at column 16`},
		{`quality_score < 'x'`, `condition: quality_score compares with a number, not the string "x" at column 17`},
		{`quality_score < abc`, `condition: quality_score compares with a number, not "abc" at column 17`},
		{`quality_score < NaN`, `condition: quality_score compares with a number, not "NaN"`},
		{`height_mm > inf`, `condition: height_mm compares with a number, not "inf"`},
		{`quality_score < 0x10`, `condition: unexpected "x10" after quality_score < 0 (join comparisons with and / or) at column 18`},
		{`quality_score < 1e999`, `condition: number 1e999 is out of range at column 17`},
		{`quality_score < -1e999`, `condition: number -1e999 is out of range`},
		{`quality_score < 1e`, `condition: unexpected "e" after quality_score < 1`},
		{`quality_score < .`, `condition: quality_score compares with a number, not "."`},
		{`grade < "A"`, `condition: grade supports only == and !=, not < at column 7`},
		{`grade == A`, `condition: grade compares with a quoted grade (e.g. grade == "REJECT"), not "A" at column 10`},
		{`grade == 3`, `condition: grade compares with a quoted grade`},
		{`grade == "D"`, `condition: unknown grade "D" (A+, A, B, C, REJECT) at column 10`},
		{`grade == "reject"`, `condition: unknown grade "reject"`},
		{`grade == ""`, `condition: unknown grade ""`},
		{`grade == "A`, `condition: unterminated string (no closing ") at column 10`},
		{`quality_score < 0.5 and`, `condition: expected a comparison (e.g. quality_score < 0.7) at column 24`},
		{`quality_score < 0.5 and or grade == "C"`, `condition: unknown variable "or" (quality_score, grade, volume_mm3, height_mm) at column 25`},
		{`quality_score < 0.5 xor grade == "C"`, `condition: unexpected "xor" after quality_score < 0.5 (join comparisons with and / or) at column 21`},
		{`quality_score < 0.5 andvolume_mm3 > 1`, `condition: unexpected "andvolume_mm3" after quality_score < 0.5`},
		{`quality_score < 0.5 & grade == "C"`, `condition: unexpected "&" after quality_score < 0.5`},
		{strings.Repeat(`quality_score < 1 or `, MaxComparisons) + `grade == "C"`, `condition: more than 16 comparisons at column 337`},
		{`__import__('os').system('x')`, `condition: unknown variable "__import__"`},
		{`«quality_score» < 1`, `condition: expected a variable (quality_score, grade, volume_mm3, height_mm), found "«quality_score»" at column 1`},
		{`grade == "A" é`, `condition: unexpected "é" after grade == "A" (join comparisons with and / or) at column 14`},
	}
	for _, tc := range cases {
		_, err := ParseCondition(tc.in)
		if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("ParseCondition(%q) error = %v, want %s…", tc.in, err, tc.err)
		}
	}
}

func TestEvalBoundaries(t *testing.T) {
	at := func(x float64) RuleInput { return RuleInput{QualityScore: num(x)} }
	cases := []struct {
		cond string
		x    float64
		want bool
	}{
		{`quality_score < 0.7`, 0.7, false},
		{`quality_score < 0.7`, 0.6999999, true},
		{`quality_score <= 0.7`, 0.7, true},
		{`quality_score <= 0.7`, 0.7000001, false},
		{`quality_score > 0.7`, 0.7, false},
		{`quality_score > 0.7`, 0.7000001, true},
		{`quality_score >= 0.7`, 0.7, true},
		{`quality_score >= 0.7`, 0.6999999, false},
		{`quality_score == 0.7`, 0.7, true},
		{`quality_score == 0.7`, 0.70001, false},
		{`quality_score != 0.7`, 0.7, false},
		{`quality_score != 0.7`, 0.70001, true},
		{`quality_score >= -0`, 0, true},
	}
	for _, tc := range cases {
		hit, actual := comparison(t, tc.cond).Eval(at(tc.x))
		if hit != tc.want || actual == nil || *actual != tc.x {
			t.Errorf("%q with %v = %v, %v; want %v, %v", tc.cond, tc.x, hit, actual, tc.want, tc.x)
		}
	}
}

func TestEvalMissingValues(t *testing.T) {
	var none RuleInput
	for _, cond := range []string{
		`quality_score < 0.7`, `quality_score != 0.7`, `quality_score >= -1e300`, `volume_mm3 > 150`, `volume_mm3 != 0`,
		`height_mm < 20`, `height_mm != 0`, `grade == "REJECT"`, `grade != "REJECT"`,
	} {
		if hit, actual := comparison(t, cond).Eval(none); hit || actual != nil {
			t.Errorf("%q on missing values = %v, %v; want false, nil", cond, hit, actual)
		}
	}
	// Each variable reads its own value only.
	onlyHeight := RuleInput{HeightMM: num(10)}
	for cond, want := range map[string]bool{`height_mm < 20`: true, `volume_mm3 < 20`: false, `quality_score < 20`: false} {
		if hit, _ := comparison(t, cond).Eval(onlyHeight); hit != want {
			t.Errorf("%q on %+v = %v, want %v", cond, onlyHeight, hit, want)
		}
	}
}

func TestEvalGrade(t *testing.T) {
	eq, ne := comparison(t, `grade == "REJECT"`), comparison(t, `grade != "REJECT"`)
	for grade, want := range map[string]bool{"REJECT": true, "C": false, "A+": false} {
		in := RuleInput{Grade: grade, QualityScore: num(0.1)}
		if hit, actual := eq.Eval(in); hit != want || actual != nil {
			t.Errorf("== on %s = %v, %v", grade, hit, actual)
		}
		if hit, _ := ne.Eval(in); hit == want {
			t.Errorf("!= on %s = %v", grade, hit)
		}
	}
}

// and binds tighter than or; &&, ||, AND and OR are the same connectives.
func TestAndOr(t *testing.T) {
	c, err := ParseCondition(`quality_score < 0.5 AND volume_mm3 > 100 || grade=='REJECT' and height_mm<20`)
	if err != nil {
		t.Fatal(err)
	}
	want := Condition{Any: [][]Comparison{
		{{Variable: VarQualityScore, Op: "<", Number: 0.5}, {Variable: VarVolumeMM3, Op: ">", Number: 100}},
		{{Variable: VarGrade, Op: "==", Text: "REJECT"}, {Variable: VarHeightMM, Op: "<", Number: 20}},
	}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("parsed %+v, want %+v", c, want)
	}
	if got := c.String(); got != `quality_score < 0.5 and volume_mm3 > 100 or grade == "REJECT" and height_mm < 20` {
		t.Errorf("String() = %q", got)
	}
	if got := c.Variables(); !reflect.DeepEqual(got, []string{VarQualityScore, VarVolumeMM3, VarGrade, VarHeightMM}) {
		t.Errorf("Variables() = %v", got)
	}
	if _, ok := c.Single(); ok {
		t.Error("Single() of four comparisons")
	}
	for _, tc := range []struct {
		in   RuleInput
		want bool
	}{
		{RuleInput{QualityScore: num(0.4), VolumeMM3: num(101)}, true},  // first group
		{RuleInput{QualityScore: num(0.4), VolumeMM3: num(100)}, false}, // half of it
		{RuleInput{Grade: "REJECT", HeightMM: num(19)}, true},           // second group
		{RuleInput{Grade: "REJECT", QualityScore: num(0.4)}, false},     // missing height
		{RuleInput{QualityScore: num(0.6), Grade: "C", HeightMM: num(10)}, false},
	} {
		if got := c.Eval(tc.in); got != tc.want {
			t.Errorf("Eval(%+v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	or, err := ParseCondition(`grade == "C" or grade == "REJECT"`)
	if err != nil || !or.Eval(RuleInput{Grade: "C"}) || !or.Eval(RuleInput{Grade: "REJECT"}) || or.Eval(RuleInput{Grade: "B"}) {
		t.Errorf("grade == C or REJECT: %v", err)
	}
}

func TestFormatNumber(t *testing.T) {
	for f, want := range map[float64]string{0.7: "0.7", -3: "-3", 100: "100", 1e6: "1000000", 1e21: "1e+21",
		1e-7: "1e-07", 0.000001: "0.000001", math.MaxFloat64: "1.7976931348623157e+308", 0: "0"} {
		if got := FormatNumber(f); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", f, got, want)
		}
	}
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		`quality_score < 0.7`, `quality_score < 0.5`, `grade == "REJECT"`, `grade == "C"`, `volume_mm3 > 150`,
		`volume_mm3 < 100`, `height_mm < 20`, `height_mm > 30`, `grade!='A+'`, `height_mm>=-1.5e-3`, `volume_mm3 == 1e400`,
		`quality_score < 0.5 and grade == "C"`, `"`, `<=`, ``, `grade == "`, `quality_score <= .`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCondition(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "condition: ") {
				t.Fatalf("error %q lacks the condition: prefix", err)
			}
			return
		}
		again, err := ParseCondition(c.String())
		if err != nil {
			t.Fatalf("%q parsed as %+v, but its canonical form %q does not: %v", s, c, c.String(), err)
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("%q: canonical %q parses as %+v, want %+v", s, c.String(), again, c)
		}
		n := 0
		for _, all := range c.Any {
			if len(all) == 0 {
				t.Fatalf("%q: an empty group", s)
			}
			for _, cmp := range all {
				n++
				if math.IsNaN(cmp.Number) || math.IsInf(cmp.Number, 0) {
					t.Fatalf("%q: non-finite literal %v", s, cmp.Number)
				}
			}
		}
		if n == 0 || n > MaxComparisons {
			t.Fatalf("%q: %d comparisons", s, n)
		}
		_ = c.Eval(input)
		_ = c.Eval(RuleInput{})
	})
}
