package sample

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

var validCases = []string{
	``, ` `, `{}`, `[]`, `{"a":1}`, `[1,2,3]`, `-0`, `-`, `01`, `1.`, `1.5e`, `1.5e+3`, `1E-3`, `.5`, `"\u00e9"`,
	`"\u00g9"`, `"\x"`, "\"\x01\"", `"a`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `nul`, `null`, `true`, `false`,
	`[true,false,null]`, ` {"a" : [ 1 , { "b" : "c" } ] } `, `{} {}`, `{"a":NaN}`, `[-1.0e-5]`, `"\/"`, `[[[]]]`,
	`{"a":}`, `[,]`, `1 2`, `"tab	in"`, `-01`, `-a`, `2e`, `[1e5,2E+5,3e-5]`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 100) + strings.Repeat("]", 100),
}

func TestValidJSONMatchesStdlib(t *testing.T) {
	for _, c := range validCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid = %v", c, got, want)
		}
	}
	for _, name := range fixtures.All {
		if !validJSON(fixtures.Load(t, name)) {
			t.Errorf("%s rejected", name)
		}
	}
}

// FuzzValidJSON: the fast validator must agree with encoding/json on every input.
func FuzzValidJSON(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c))
	}
	f.Add(fixtures.Load(f, fixtures.Minimal))
	// The histogram path of the validator (histValue), valid and not.
	for _, bins := range []string{`[[[0.5, 1e-3]],[[2,-0.25]]]`, `[[[1,,2]]]`, `[[[1,2],]]`, `[[[01]]]`, `[[[1.]]]`,
		`[[[-]]]`, `[[[1e]]]`, `[[[1]],[[2]]`, `[[[]]]`, `[[[1 2]]]`, `[[[1]] [[2]]]`, `[[["a"]]]`, `[[[1e400]]]`} {
		f.Add([]byte(`{"vl53l8ch_raw":{"bins_matrix":` + bins + `}}`))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON = %v, json.Valid = %v for %q", got, want, b)
		}
	})
}
