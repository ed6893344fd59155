package features

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// The histogram is 8,192 numbers inside a 140 KB frame, read for every prediction of a
// model that uses the hist_ features: encoding/json would validate the whole frame and
// then reflect over [][][]float64 (about 3 ms of CPU per frame). The stored frame was
// validated by ingestion, so a small scanner locates vl53l8ch_raw.bins_matrix and parses
// the numbers in place (about 4x less). It never panics and refuses anything that is not
// an 8x8x128 array of numbers (fuzz tests).

var errTruncated = errors.New("truncated JSON")

// HistogramFromFrame returns vl53l8ch_raw.bins_matrix of a sensor_data frame (JSON), or
// nil when the frame has none.
func HistogramFromFrame(frame []byte) ([]float64, error) {
	raw, ok, err := member(frame, "vl53l8ch_raw")
	if err != nil {
		return nil, fmt.Errorf("decode frame for histogram: %w", err)
	}
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	bins, ok, err := member(raw, "bins_matrix")
	if err != nil {
		return nil, fmt.Errorf("decode vl53l8ch_raw for histogram: %w", err)
	}
	if !ok || string(bins) == "null" {
		return nil, nil
	}
	return DecodeHistogram(bins)
}

// member returns the value of key in the JSON object obj (ok false when absent).
func member(obj []byte, key string) (val []byte, ok bool, err error) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false, errors.New("not a JSON object")
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil, false, nil
	}
	for i < len(obj) {
		if obj[i] != '"' {
			return nil, false, fmt.Errorf("object key expected at offset %d", i)
		}
		kEnd, err := skipString(obj, i)
		if err != nil {
			return nil, false, err
		}
		k := obj[i+1 : kEnd-1]
		match := string(k) == key
		if !match && bytes.IndexByte(k, '\\') >= 0 {
			var s string
			match = json.Unmarshal(obj[i:kEnd], &s) == nil && s == key
		}
		i = skipSpace(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false, fmt.Errorf("':' expected at offset %d", i)
		}
		i = skipSpace(obj, i+1)
		vEnd, err := skipValue(obj, i)
		if err != nil {
			return nil, false, err
		}
		if match {
			return obj[i:vEnd], true, nil
		}
		i = skipSpace(obj, vEnd)
		if i >= len(obj) {
			return nil, false, errTruncated
		}
		switch obj[i] {
		case '}':
			return nil, false, nil
		case ',':
			i = skipSpace(obj, i+1)
		default:
			return nil, false, fmt.Errorf("',' or '}' expected at offset %d", i)
		}
	}
	return nil, false, errTruncated
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipString returns the offset just after the string that starts at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errTruncated
}

// skipValue returns the offset just after the JSON value that starts at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errTruncated
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
			i++
		}
		return 0, errTruncated
	}
	j := i
	for j < len(b) && !delimiter(b[j]) {
		j++
	}
	if j == i {
		return 0, fmt.Errorf("value expected at offset %d", i)
	}
	return j, nil
}

func delimiter(c byte) bool {
	switch c {
	case ',', '}', ']', '[', '{', ' ', '\n', '\r', '\t', ':', '"':
		return true
	}
	return false
}

// DecodeHistogram decodes an 8x8x128 JSON array of numbers into 8,192 zone-major values.
func DecodeHistogram(b []byte) ([]float64, error) {
	out := make([]float64, 0, Zones*Bins)
	counts := [4]int{} // children seen at each depth
	depth := 0
	for i := skipSpace(b, 0); i < len(b); {
		switch c := b[i]; {
		case c == '[':
			if depth == 3 {
				return nil, errors.New("decode 8x8x128 histogram: nested deeper than 3")
			}
			if depth > 0 {
				counts[depth]++
			}
			depth++
			counts[depth] = 0
			i++
		case c == ']':
			if depth == 0 {
				return nil, errors.New("decode 8x8x128 histogram: unbalanced ]")
			}
			want := map[int]int{1: 8, 2: 8, 3: Bins}[depth]
			if counts[depth] != want {
				return nil, fmt.Errorf("decode 8x8x128 histogram: %d values at depth %d, want %d", counts[depth], depth, want)
			}
			depth--
			i++
			if depth == 0 {
				if j := skipSpace(b, i); j != len(b) {
					return nil, fmt.Errorf("decode 8x8x128 histogram: trailing data at offset %d", j)
				}
				return out, nil
			}
		case c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t':
			i++
		default:
			if depth != 3 {
				return nil, fmt.Errorf("decode 8x8x128 histogram: value at depth %d, want arrays", depth)
			}
			j := i
			for j < len(b) && !delimiter(b[j]) {
				j++
			}
			v, err := strconv.ParseFloat(string(b[i:j]), 64)
			if err != nil || j == i {
				return nil, fmt.Errorf("decode 8x8x128 histogram: bad number at offset %d", i)
			}
			out = append(out, v)
			counts[3]++
			i = j
		}
	}
	if depth == 0 && len(out) == 0 {
		return nil, errors.New("decode 8x8x128 histogram: not an array")
	}
	return nil, fmt.Errorf("decode 8x8x128 histogram: %w", errTruncated)
}
