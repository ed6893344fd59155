package sample

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// This file holds the small JSON helpers of the decoder. Frames are validated once
// (validJSONMembers, which also records the top-level members and quantises the
// time-of-flight histogram for raw_message, see hist.go); after that, members
// are located with a fast skipper instead of encoding/json, because the 108 KB
// histogram of a full frame would otherwise be scanned several times for a value
// nobody reads (see BenchmarkDecode). The skipper jumps over arrays of numbers with
// bytes.IndexByte (skipFlatArray), so a pass over the histogram costs microseconds.

// eachMember calls fn for every member of the JSON object obj (already known valid).
// Keys are unescaped only when they contain a backslash.
func eachMember(obj []byte, fn func(key string, val []byte)) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return
		}
		// key
		kEnd := skipString(obj, i)
		rawKey := obj[i+1 : kEnd-1]
		var key string
		if bytes.IndexByte(rawKey, '\\') >= 0 {
			_ = json.Unmarshal(obj[i:kEnd], &key)
		} else {
			key = string(rawKey)
		}
		i = skipSpace(obj, kEnd)
		i++ // ':'
		i = skipSpace(obj, i)
		vEnd := skipValue(obj, i)
		fn(key, obj[i:vEnd])
		i = skipSpace(obj, vEnd)
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipString returns the index just after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	i++
	for {
		j := bytes.IndexAny(b[i:], "\"\\")
		if j < 0 {
			return len(b)
		}
		i += j
		if b[i] == '\\' {
			i += 2
			continue
		}
		return i + 1
	}
}

// structural marks the bytes skipValue must look at inside a container; everything
// else (digits, commas, spaces, letters) is skipped by a tight table-driven loop, which
// matters for the 8x8x128 histogram (~108 KB of numbers).
var structural = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// skipValue returns the index just after the JSON value starting at b[i] (b is valid JSON).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			for i < len(b) && !structural[b[i]] {
				i++
			}
			if i >= len(b) {
				break
			}
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '[':
				if end := skipFlatArray(b, i); end > 0 {
					if depth == 0 {
						return end
					}
					i = end
					continue
				}
				depth++
			case '{':
				depth++
			default: // '}' or ']'
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\n', '\r', '\t':
				return i
			}
			i++
		}
		return i
	}
}

// skipFlatArray returns the index just after the array starting at b[i] == '[' when
// that array holds no string, object or array (the rows of the 8x8x128 histogram, the
// 8x8 matrices), else 0. It finds the closing ']' with bytes.IndexByte (vectorised)
// instead of looking at every byte: in valid JSON, when no '[', '{' or '"' comes before
// the next ']', that ']' closes this array. The cost is linear overall: each call scans
// at most up to the next '[', which the caller would otherwise walk byte by byte.
func skipFlatArray(b []byte, i int) int {
	rest := b[i+1:]
	if next := bytes.IndexByte(rest, '['); next >= 0 {
		rest = rest[:next]
	}
	end := bytes.IndexByte(rest, ']')
	if end < 0 {
		return 0
	}
	body := rest[:end]
	if bytes.IndexByte(body, '"') >= 0 || bytes.IndexByte(body, '{') >= 0 {
		return 0
	}
	return i + 1 + end + 1
}

// member returns the value of key in the object obj, nil when absent or obj is not an object.
func member(obj []byte, key string) []byte {
	var out []byte
	eachMember(obj, func(k string, v []byte) {
		if k == key {
			out = v
		}
	})
	return out
}

// kind of a raw JSON value.
func isAbsent(v []byte) bool { return len(v) == 0 || string(v) == "null" }
func isObject(v []byte) bool { return len(v) > 0 && v[0] == '{' }
func isArray(v []byte) bool  { return len(v) > 0 && v[0] == '[' }
func isString(v []byte) bool { return len(v) > 0 && v[0] == '"' }
func isNumber(v []byte) bool { return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') }
func isBool(v []byte) bool   { return string(v) == "true" || string(v) == "false" }

// jsonKind names the JSON type of v for error messages.
func jsonKind(v []byte) string {
	switch {
	case isAbsent(v):
		return "null"
	case isObject(v):
		return "an object"
	case isArray(v):
		return "an array"
	case isString(v):
		return "a string"
	case isBool(v):
		return "a boolean"
	}
	return "a number"
}

// rawString returns the string value of v, ok=false when v is not a JSON string.
func rawString(v []byte) (string, bool) {
	if !isString(v) {
		return "", false
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false
	}
	return s, true
}

// rawNumber returns the value of a JSON number, ok=false for anything else.
func rawNumber(v []byte) (float64, bool) {
	if !isNumber(v) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		// Out of float64 range (1e400): ParseFloat returns ±Inf with ErrRange; such a
		// value cannot be stored in a double column, so it is not a usable number.
		return 0, false
	}
	return f, true
}

// optNumber is rawNumber for optional pass-through columns: nil when not a number.
func optNumber(v []byte) *float64 {
	if f, ok := rawNumber(v); ok {
		return &f
	}
	return nil
}

// optInt returns an integral JSON number as int32 (the integer columns), nil otherwise.
func optInt(v []byte) *int32 {
	f, ok := rawNumber(v)
	if !ok || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return nil
	}
	i := int32(f)
	return &i
}

// optString returns a JSON string, nil otherwise.
func optString(v []byte) *string {
	if s, ok := rawString(v); ok {
		return &s
	}
	return nil
}

// parseTimestamp parses a frame timestamp (contract §0.1): an ISO-8601 string (Z, offset
// or naive = UTC, or a date alone) or a number of Unix epoch seconds. nil when absent.
func parseTimestamp(v []byte) (*time.Time, error) {
	if isAbsent(v) {
		return nil, nil
	}
	var in string
	switch {
	case isString(v):
		in, _ = rawString(v)
	case isNumber(v):
		in = string(v)
	default:
		return nil, errMustBe("a datetime string")
	}
	t, err := httpapi.ParseTime(in)
	if err != nil {
		return nil, err
	}
	// PostgreSQL keeps microseconds (rounding); round here so the stored value, the ack
	// and the events agree.
	t = t.UTC().Round(time.Microsecond)
	return &t, nil
}

// column truncates s to n characters (varchar(n) counts characters) and strips NUL
// bytes, which PostgreSQL text cannot hold. The full value stays in raw_message.
func column(s string, n int) string {
	if bytes.IndexByte([]byte(s), 0) >= 0 {
		s = string(bytes.ReplaceAll([]byte(s), []byte{0}, nil))
	}
	if len(s) <= n { // bytes >= characters
		return s
	}
	count := 0
	for i := range s {
		if count == n {
			return s[:i]
		}
		count++
	}
	return s
}

// optColumn is column for a nullable value.
func optColumn(s *string, n int) *string {
	if s == nil {
		return nil
	}
	c := column(*s, n)
	return &c
}

// jsonbValue returns v for a jsonb column, or nil (SQL NULL) when v is absent/null or
// holds something jsonb rejects (the \u0000 escape); raw_message keeps it either way.
func jsonbValue(v []byte) []byte {
	if isAbsent(v) || bytes.Contains(v, []byte(`\u0000`)) {
		return nil
	}
	return v
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }
