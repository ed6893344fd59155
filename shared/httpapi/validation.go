package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrorItem is one entry of FastAPI's 422 body: {"type","loc","msg","input","ctx"?}.
type ErrorItem struct {
	Type  string         `json:"type"`
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
}

// ValidationError is a request that failed validation; it marshals as FastAPI's
// {"detail": [items...]} and is answered 422 by Fail.
type ValidationError struct {
	Items []ErrorItem `json:"detail"`
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Items))
	for i, it := range e.Items {
		loc := make([]string, len(it.Loc))
		for j, l := range it.Loc {
			loc[j] = fmt.Sprint(l)
		}
		msgs[i] = strings.Join(loc, ".") + ": " + it.Msg
	}
	return "validation failed: " + strings.Join(msgs, "; ")
}

// WriteValidation answers 422 with FastAPI's body.
func WriteValidation(w http.ResponseWriter, items ...ErrorItem) {
	JSON(w, http.StatusUnprocessableEntity, &ValidationError{Items: items})
}

// Item constructors with pydantic 2's exact type and msg strings. loc is the location
// path, e.g. ("query", "limit") or ("body", "device_id").

// Missing is a required value that was not given.
func Missing(loc ...any) ErrorItem {
	return ErrorItem{Type: "missing", Loc: loc, Msg: "Field required", Input: nil}
}

// IntParsing is a value that is not an integer.
func IntParsing(input any, loc ...any) ErrorItem {
	return ErrorItem{Type: "int_parsing", Loc: loc, Msg: "Input should be a valid integer, unable to parse string as an integer", Input: input}
}

// FloatParsing is a value that is not a number.
func FloatParsing(input any, loc ...any) ErrorItem {
	return ErrorItem{Type: "float_parsing", Loc: loc, Msg: "Input should be a valid number, unable to parse string as a number", Input: input}
}

// BoolParsing is a value that is not a boolean.
func BoolParsing(input any, loc ...any) ErrorItem {
	return ErrorItem{Type: "bool_parsing", Loc: loc, Msg: "Input should be a valid boolean, unable to interpret input", Input: input}
}

// DatetimeParsing is a value that is neither a datetime nor a date; reason is
// pydantic's explanation (e.g. "input is too short").
func DatetimeParsing(input any, reason string, loc ...any) ErrorItem {
	return ErrorItem{Type: "datetime_from_date_parsing", Loc: loc, Msg: "Input should be a valid datetime or date, " + reason,
		Input: input, Ctx: map[string]any{"error": reason}}
}

// EnumError is a value outside an allowed set.
func EnumError(input any, allowed []string, loc ...any) ErrorItem {
	exp := expected(allowed)
	return ErrorItem{Type: "enum", Loc: loc, Msg: "Input should be " + exp, Input: input, Ctx: map[string]any{"expected": exp}}
}

// expected renders 'a', 'b' or 'c' like pydantic.
func expected(allowed []string) string {
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = "'" + a + "'"
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Bound is a numeric bound (Ge, Le, Gt, Lt) or a length bound (MinLen, MaxLen).
type Bound struct {
	kind string // ge, le, gt, lt, min_length, max_length
	n    float64
}

// Ge requires value >= n.
func Ge(n float64) Bound { return Bound{"ge", n} }

// Le requires value <= n.
func Le(n float64) Bound { return Bound{"le", n} }

// Gt requires value > n.
func Gt(n float64) Bound { return Bound{"gt", n} }

// Lt requires value < n.
func Lt(n float64) Bound { return Bound{"lt", n} }

// MinLen requires a string of at least n characters.
func MinLen(n int) Bound { return Bound{"min_length", float64(n)} }

// MaxLen requires a string of at most n characters.
func MaxLen(n int) Bound { return Bound{"max_length", float64(n)} }

// num renders a bound like Python does: 1000, not 1000.0; 0.5 as 0.5.
func num(n float64) any {
	if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
		return int64(n)
	}
	return n
}

func (b Bound) violated(v float64) bool {
	switch b.kind {
	case "ge":
		return v < b.n
	case "le":
		return v > b.n
	case "gt":
		return v <= b.n
	case "lt":
		return v >= b.n
	}
	return false
}

func (b Bound) item(input any, loc []any) ErrorItem {
	n := num(b.n)
	var typ, msg string
	switch b.kind {
	case "ge":
		typ, msg = "greater_than_equal", fmt.Sprintf("Input should be greater than or equal to %v", n)
	case "le":
		typ, msg = "less_than_equal", fmt.Sprintf("Input should be less than or equal to %v", n)
	case "gt":
		typ, msg = "greater_than", fmt.Sprintf("Input should be greater than %v", n)
	case "lt":
		typ, msg = "less_than", fmt.Sprintf("Input should be less than %v", n)
	case "min_length":
		typ, msg = "string_too_short", fmt.Sprintf("String should have at least %v %s", n, plural(b.n, "character"))
	case "max_length":
		typ, msg = "string_too_long", fmt.Sprintf("String should have at most %v %s", n, plural(b.n, "character"))
	}
	return ErrorItem{Type: typ, Loc: loc, Msg: msg, Input: input, Ctx: map[string]any{b.kind: n}}
}

func plural(n float64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// CheckNumber returns the error items for v against numeric bounds (for body fields
// validated after decoding).
func CheckNumber(v float64, input any, loc []any, bounds ...Bound) []ErrorItem {
	for _, b := range bounds {
		if b.kind != "min_length" && b.kind != "max_length" && b.violated(v) {
			return []ErrorItem{b.item(input, loc)} // pydantic reports the first failing constraint
		}
	}
	return nil
}

// CheckLength returns the error items for a string against MinLen/MaxLen bounds.
func CheckLength(s string, loc []any, bounds ...Bound) []ErrorItem {
	n := float64(len([]rune(s)))
	for _, b := range bounds {
		if (b.kind == "min_length" && n < b.n) || (b.kind == "max_length" && n > b.n) {
			return []ErrorItem{b.item(s, loc)}
		}
	}
	return nil
}

// ParamSet collects parameter values and their validation errors for one request, so a
// handler reads every parameter and then answers all problems in one 422, like FastAPI:
//
//	p := httpapi.Params(r)
//	limit := p.Query("limit").Int(100, httpapi.Ge(1), httpapi.Le(1000))
//	start := p.Query("start_time").OptTime()
//	id := p.Path("alert_id").RequiredInt()
//	if !p.Check(w) {
//		return
//	}
type ParamSet struct {
	r     *http.Request
	query map[string][]string
	items []ErrorItem
}

// Params starts validating r's parameters.
func Params(r *http.Request) *ParamSet {
	return &ParamSet{r: r, query: r.URL.Query()}
}

// Query selects a query parameter (the last value wins when repeated, like Starlette).
func (p *ParamSet) Query(name string) Field {
	vs, ok := p.query[name]
	f := Field{p: p, loc: []any{"query", name}, present: ok && len(vs) > 0}
	if f.present {
		f.raw = vs[len(vs)-1]
	}
	return f
}

// Path selects a path parameter ({name} in the route pattern).
func (p *ParamSet) Path(name string) Field {
	v := p.r.PathValue(name)
	return Field{p: p, loc: []any{"path", name}, raw: v, present: v != ""}
}

// Header selects a request header (loc "header", name lower-cased with '-' -> '_' as FastAPI does).
func (p *ParamSet) Header(name string) Field {
	vs := p.r.Header.Values(name)
	f := Field{p: p, loc: []any{"header", strings.ReplaceAll(strings.ToLower(name), "-", "_")}, present: len(vs) > 0}
	if f.present {
		f.raw = vs[0]
	}
	return f
}

// Add records extra items (cross-field rules, body checks).
func (p *ParamSet) Add(items ...ErrorItem) { p.items = append(p.items, items...) }

// Err returns the collected *ValidationError, or nil when every parameter was valid.
func (p *ParamSet) Err() error {
	if len(p.items) == 0 {
		return nil
	}
	return &ValidationError{Items: append([]ErrorItem(nil), p.items...)}
}

// Check answers 422 and returns false when any parameter was invalid.
func (p *ParamSet) Check(w http.ResponseWriter) bool {
	if len(p.items) == 0 {
		return true
	}
	WriteValidation(w, p.items...)
	return false
}

// Field is one parameter being read. Every reader has three forms: X(def) returns def
// when the parameter is absent, RequiredX reports "missing" when absent, OptX returns
// nil when absent. Invalid values record an error and return the zero value (or def).
type Field struct {
	p       *ParamSet
	loc     []any
	raw     string
	present bool
}

// Present reports whether the parameter was given.
func (f Field) Present() bool { return f.present }

// Raw is the parameter's text ("" when absent).
func (f Field) Raw() string { return f.raw }

func (f Field) add(it ErrorItem) { f.p.items = append(f.p.items, it) }

// ParseInt parses s as pydantic parses an int from a string (surrounding whitespace
// allowed, optional sign, decimal digits). The bool is false when s is not an integer;
// big values are clamped to ±Inf in the float return so bounds still report them.
func ParseInt(s string) (int64, float64, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, 0, false
	}
	body := t
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	if body == "" {
		return 0, 0, false
	}
	for i := 0; i < len(body); i++ {
		if body[i] < '0' || body[i] > '9' {
			return 0, 0, false
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil { // out of int64 range: keep the sign for bound checks
		b, _ := new(big.Int).SetString(strings.TrimPrefix(t, "+"), 10)
		return 0, math.Inf(b.Sign()), true
	}
	return v, float64(v), true
}

func (f Field) intValue(bounds []Bound) (int, bool) {
	v, fv, ok := ParseInt(f.raw)
	if !ok {
		f.add(IntParsing(f.raw, f.loc...))
		return 0, false
	}
	if items := CheckNumber(fv, f.raw, f.loc, bounds...); items != nil {
		f.add(items[0])
		return 0, false
	}
	if math.IsInf(fv, 0) || v > math.MaxInt || v < math.MinInt {
		f.add(ErrorItem{Type: "int_parsing_size", Loc: f.loc, Msg: "Unable to parse input string as an integer, exceeded maximum size", Input: f.raw})
		return 0, false
	}
	return int(v), true
}

// Int reads an integer with optional bounds; def when absent.
func (f Field) Int(def int, bounds ...Bound) int {
	if !f.present {
		return def
	}
	if v, ok := f.intValue(bounds); ok {
		return v
	}
	return def
}

// RequiredInt reads a required integer.
func (f Field) RequiredInt(bounds ...Bound) int {
	if !f.present {
		f.add(Missing(f.loc...))
		return 0
	}
	v, _ := f.intValue(bounds)
	return v
}

// OptInt reads an optional integer (nil when absent or invalid).
func (f Field) OptInt(bounds ...Bound) *int {
	if !f.present {
		return nil
	}
	if v, ok := f.intValue(bounds); ok {
		return &v
	}
	return nil
}

func (f Field) floatValue(bounds []Bound) (float64, bool) {
	v, err := strconv.ParseFloat(strings.TrimSpace(f.raw), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		f.add(FloatParsing(f.raw, f.loc...))
		return 0, false
	}
	if items := CheckNumber(v, f.raw, f.loc, bounds...); items != nil {
		f.add(items[0])
		return 0, false
	}
	return v, true
}

// Float reads a number with optional bounds; def when absent.
func (f Field) Float(def float64, bounds ...Bound) float64 {
	if !f.present {
		return def
	}
	if v, ok := f.floatValue(bounds); ok {
		return v
	}
	return def
}

// OptFloat reads an optional number.
func (f Field) OptFloat(bounds ...Bound) *float64 {
	if !f.present {
		return nil
	}
	if v, ok := f.floatValue(bounds); ok {
		return &v
	}
	return nil
}

// ParseBool accepts pydantic's spellings: 1/0, true/false, t/f, yes/no, y/n, on/off
// (any case).
func ParseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "t", "yes", "y", "on":
		return true, true
	case "0", "false", "f", "no", "n", "off":
		return false, true
	}
	return false, false
}

// Bool reads a boolean; def when absent.
func (f Field) Bool(def bool) bool {
	if !f.present {
		return def
	}
	v, ok := ParseBool(f.raw)
	if !ok {
		f.add(BoolParsing(f.raw, f.loc...))
		return def
	}
	return v
}

// OptBool reads an optional boolean.
func (f Field) OptBool() *bool {
	if !f.present {
		return nil
	}
	v, ok := ParseBool(f.raw)
	if !ok {
		f.add(BoolParsing(f.raw, f.loc...))
		return nil
	}
	return &v
}

func (f Field) timeValue() (time.Time, bool) {
	t, err := ParseTime(f.raw)
	if err != nil {
		reason := "invalid datetime"
		var te *TimeError
		if errors.As(err, &te) {
			reason = te.Reason
		}
		f.add(DatetimeParsing(f.raw, reason, f.loc...))
		return time.Time{}, false
	}
	return t, true
}

// Time reads a datetime (§0.1 spellings, see ParseTime); def when absent.
func (f Field) Time(def time.Time) time.Time {
	if !f.present {
		return def
	}
	if t, ok := f.timeValue(); ok {
		return t
	}
	return def
}

// OptTime reads an optional datetime.
func (f Field) OptTime() *time.Time {
	if !f.present {
		return nil
	}
	if t, ok := f.timeValue(); ok {
		return &t
	}
	return nil
}

// RequiredTime reads a required datetime.
func (f Field) RequiredTime() time.Time {
	if !f.present {
		f.add(Missing(f.loc...))
		return time.Time{}
	}
	t, _ := f.timeValue()
	return t
}

func (f Field) stringValue(bounds []Bound) (string, bool) {
	if items := CheckLength(f.raw, f.loc, bounds...); items != nil {
		f.add(items[0])
		return "", false
	}
	return f.raw, true
}

// String reads a string with optional MinLen/MaxLen; def when absent.
func (f Field) String(def string, bounds ...Bound) string {
	if !f.present {
		return def
	}
	if v, ok := f.stringValue(bounds); ok {
		return v
	}
	return def
}

// RequiredString reads a required string.
func (f Field) RequiredString(bounds ...Bound) string {
	if !f.present {
		f.add(Missing(f.loc...))
		return ""
	}
	v, _ := f.stringValue(bounds)
	return v
}

// OptString reads an optional string.
func (f Field) OptString(bounds ...Bound) *string {
	if !f.present {
		return nil
	}
	if v, ok := f.stringValue(bounds); ok {
		return &v
	}
	return nil
}

// Enum reads one of allowed (exact match); def when absent.
func (f Field) Enum(def string, allowed ...string) string {
	if !f.present {
		return def
	}
	for _, a := range allowed {
		if f.raw == a {
			return a
		}
	}
	f.add(EnumError(f.raw, allowed, f.loc...))
	return def
}

// OptEnum reads an optional value of allowed.
func (f Field) OptEnum(allowed ...string) *string {
	if !f.present {
		return nil
	}
	for _, a := range allowed {
		if f.raw == a {
			return &a
		}
	}
	f.add(EnumError(f.raw, allowed, f.loc...))
	return nil
}

// DecodeJSON decodes r's body into dst. Failures come back as a *ValidationError in
// FastAPI's shape (a missing body is "missing" at ["body"], bad JSON is json_invalid at
// ["body", offset], a wrong type is *_type at ["body", field...]), except a body over
// the runtime's size limit, which is a *StatusError 413.
func DecodeJSON(r *http.Request, dst any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &StatusError{Status: http.StatusRequestEntityTooLarge, Msg: "Request body too large", Err: err}
		}
		return &StatusError{Status: http.StatusBadRequest, Msg: "Could not read request body", Err: err}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return &ValidationError{Items: []ErrorItem{Missing("body")}}
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return &ValidationError{Items: []ErrorItem{{Type: "json_invalid", Loc: []any{"body", se.Offset},
				Msg: "JSON decode error", Input: map[string]any{}, Ctx: map[string]any{"error": se.Error()}}}}
		case errors.As(err, &te):
			loc := []any{"body"}
			if te.Field != "" {
				for _, p := range strings.Split(te.Field, ".") {
					loc = append(loc, p)
				}
			}
			typ, msg := typeError(te)
			var input any
			_ = json.Unmarshal(body, &input)
			if m, ok := input.(map[string]any); ok && te.Field != "" {
				input = m[strings.Split(te.Field, ".")[0]]
			}
			return &ValidationError{Items: []ErrorItem{{Type: typ, Loc: loc, Msg: msg, Input: input}}}
		default:
			return &ValidationError{Items: []ErrorItem{{Type: "json_invalid", Loc: []any{"body", 0},
				Msg: "JSON decode error", Input: map[string]any{}, Ctx: map[string]any{"error": err.Error()}}}}
		}
	}
	return nil
}

func typeError(te *json.UnmarshalTypeError) (string, string) {
	switch te.Type.Kind().String() {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "int_type", "Input should be a valid integer"
	case "float32", "float64":
		return "float_type", "Input should be a valid number"
	case "string":
		return "string_type", "Input should be a valid string"
	case "bool":
		return "bool_type", "Input should be a valid boolean"
	case "slice", "array":
		return "list_type", "Input should be a valid list"
	case "map", "struct":
		return "dict_type", "Input should be a valid dictionary"
	}
	return "model_type", "Input should be a valid " + te.Type.String()
}
