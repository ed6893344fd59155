package reportsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// maxJSONBody bounds a JSON request body of this function.
const maxJSONBody = 256 << 10

// readBody reads a JSON request body (at most maxJSONBody bytes).
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, httpapi.Errorf(http.StatusRequestEntityTooLarge, "Request body too large")
		}
		return nil, httpapi.Errorf(http.StatusBadRequest, "Could not read request body")
	}
	if len(b) > maxJSONBody {
		return nil, httpapi.Errorf(http.StatusRequestEntityTooLarge, "Request body too large")
	}
	return b, nil
}

// fields is a decoded JSON object body. Each field is looked up under its snake_case
// name (what the dashboard sends) and its camelCase name (what the former target read
// and what the GETs return), so neither spelling is silently dropped (§2.20 #1).
// Problems are collected, then reported together as one 422 in FastAPI's shape.
type fields struct {
	m     map[string]json.RawMessage
	items []httpapi.ErrorItem
}

// parseFields decodes b as a JSON object; anything else is a 422. An empty body is an
// empty object when emptyOK, else "missing".
func parseFields(b []byte, emptyOK bool) (*fields, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		if emptyOK {
			return &fields{m: map[string]json.RawMessage{}}, nil
		}
		return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.Missing("body")}}
	}
	// PostgreSQL stores no NUL character in text or jsonb: refuse it here rather than
	// fail the INSERT with a 500.
	if bytes.Contains(bytes.ToLower(b), []byte(`\u0000`)) {
		return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{{Type: "value_error", Loc: []any{"body"},
			Msg: "Value error, the NUL character (\\u0000) is not accepted", Input: nil}}}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{{Type: "model_attributes_type", Loc: []any{"body"},
			Msg: "Input should be a valid dictionary or object to extract fields from", Input: clip(string(b), 200)}}}
	}
	return &fields{m: m}, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// lookup returns the raw value of the first present name; JSON null counts as absent.
func (f *fields) lookup(names ...string) (json.RawMessage, bool) {
	for _, n := range names {
		if v, ok := f.m[n]; ok {
			if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				return nil, false
			}
			return v, true
		}
	}
	return nil, false
}

// has reports whether any of names is present (even as null).
func (f *fields) has(names ...string) bool {
	for _, n := range names {
		if _, ok := f.m[n]; ok {
			return true
		}
	}
	return false
}

func (f *fields) add(it httpapi.ErrorItem) { f.items = append(f.items, it) }

func (f *fields) typeErr(name, typ, msg string, raw json.RawMessage) {
	var input any
	_ = json.Unmarshal(raw, &input)
	f.add(httpapi.ErrorItem{Type: typ, Loc: []any{"body", name}, Msg: msg, Input: input})
}

// str reads an optional string of at most maxLen characters, trimmed.
func (f *fields) str(maxLen int, names ...string) *string {
	raw, ok := f.lookup(names...)
	if !ok {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		f.typeErr(names[0], "string_type", "Input should be a valid string", raw)
		return nil
	}
	s = strings.TrimSpace(s)
	if items := httpapi.CheckLength(s, []any{"body", names[0]}, httpapi.MaxLen(maxLen)); len(items) > 0 {
		f.items = append(f.items, items...)
		return nil
	}
	return &s
}

// required reads a non-empty string; absence, null or "" is "missing".
func (f *fields) required(maxLen int, names ...string) string {
	before := len(f.items)
	s := f.str(maxLen, names...)
	if len(f.items) > before {
		return "" // a type or length error is already reported
	}
	if s == nil || *s == "" {
		f.add(httpapi.Missing("body", names[0]))
		return ""
	}
	return *s
}

// enum reads an optional string from allowed (case-insensitive; stored lower case).
func (f *fields) enum(allowed []string, names ...string) *string {
	s := f.str(64, names...)
	if s == nil {
		return nil
	}
	v := strings.ToLower(*s)
	for _, a := range allowed {
		if v == a {
			return &v
		}
	}
	f.add(httpapi.EnumError(*s, allowed, "body", names[0]))
	return nil
}

func (f *fields) boolean(names ...string) *bool {
	raw, ok := f.lookup(names...)
	if !ok {
		return nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		f.typeErr(names[0], "bool_type", "Input should be a valid boolean", raw)
		return nil
	}
	return &b
}

// integer reads an optional integer within [lo, hi].
func (f *fields) integer(lo, hi int, names ...string) *int {
	raw, ok := f.lookup(names...)
	if !ok {
		return nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		f.typeErr(names[0], "int_type", "Input should be a valid integer", raw)
		return nil
	}
	if items := httpapi.CheckNumber(float64(n), n, []any{"body", names[0]}, httpapi.Ge(float64(lo)), httpapi.Le(float64(hi))); len(items) > 0 {
		f.items = append(f.items, items...)
		return nil
	}
	return &n
}

// timestamp reads an optional date-time (RFC 3339, a bare date, or epoch seconds, as
// the query parameters accept).
func (f *fields) timestamp(names ...string) *time.Time {
	raw, ok := f.lookup(names...)
	if !ok {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			f.typeErr(names[0], "datetime_type", "Input should be a valid datetime", raw)
			return nil
		}
		s = n.String()
	}
	t, err := httpapi.ParseTime(s)
	if err != nil {
		reason := err.Error()
		var te *httpapi.TimeError
		if errors.As(err, &te) {
			reason = te.Reason
		}
		f.add(httpapi.DatetimeParsing(s, reason, "body", names[0]))
		return nil
	}
	return &t
}

// strList reads an optional array of strings (each at most maxLen, at most maxItems).
func (f *fields) strList(maxItems, maxLen int, names ...string) *[]string {
	raw, ok := f.lookup(names...)
	if !ok {
		return nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		f.typeErr(names[0], "list_type", "Input should be a valid list of strings", raw)
		return nil
	}
	if len(l) > maxItems {
		f.add(httpapi.ErrorItem{Type: "too_long", Loc: []any{"body", names[0]},
			Msg:   fmt.Sprintf("List should have at most %d items after validation, not %d", maxItems, len(l)),
			Input: l, Ctx: map[string]any{"field_type": "List", "max_length": maxItems, "actual_length": len(l)}})
		return nil
	}
	for i, s := range l {
		if len(s) > maxLen {
			f.items = append(f.items, httpapi.CheckLength(s, []any{"body", names[0], i}, httpapi.MaxLen(maxLen))...)
			return nil
		}
	}
	if l == nil {
		l = []string{}
	}
	return &l
}

// object reads an optional JSON object, kept as raw JSON.
func (f *fields) object(names ...string) json.RawMessage {
	raw, ok := f.lookup(names...)
	if !ok {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		f.typeErr(names[0], "dict_type", "Input should be a valid dictionary", raw)
		return nil
	}
	return raw
}

// err is the collected 422, or nil.
func (f *fields) err() error {
	if len(f.items) == 0 {
		return nil
	}
	return &httpapi.ValidationError{Items: f.items}
}
