package sample

// validJSON reports whether b is exactly one JSON value (RFC 8259) surrounded by
// optional whitespace; UTF-8 validity is checked separately (utf8.Valid).
//
// It is a drop-in for json.Valid on the hot path: encoding/json's scanner calls a state
// function per byte, which dominates decoding a 140 KB frame that is mostly numbers; this
// one loops over digits directly. FuzzValidJSON checks it against json.Valid.
func validJSON(b []byte) bool { return validJSONMembers(b, nil) }

// validJSONMembers is validJSON that also calls member for every member of the
// top-level object (raw key bytes without quotes, raw value), in order, so a decoder
// needs no second pass over the frame to locate them. Members seen before a syntax
// error are reported too: a caller discards them when the result is false.
func validJSONMembers(b []byte, member func(rawKey, val []byte)) bool {
	v := validator{b: b, member: member}
	return v.valid()
}

func (v *validator) valid() bool {
	v.space()
	if !v.value(0) {
		return false
	}
	v.space()
	return v.i == len(v.b)
}

type validator struct {
	b      []byte
	i      int
	member func(rawKey, val []byte) // optional, see validJSONMembers

	// The histogram (vl53l8ch_raw.bins_matrix) is quantised while it is validated, so
	// its ~108 KB of numbers are read once (see histValue). inRaw: the top-level member
	// being validated is "vl53l8ch_raw"; hist: the last histogram quantised.
	inRaw bool
	hist  *histSplit
}

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

func (v *validator) space() {
	b, i := v.b, v.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	v.i = i
}

func (v *validator) value(depth int) bool {
	if v.i >= len(v.b) {
		return false
	}
	switch c := v.b[v.i]; {
	case c == '{':
		return v.object(depth + 1)
	case c == '[':
		return v.array(depth + 1)
	case c == '"':
		return v.str()
	case c == '-' || c >= '0' && c <= '9':
		return v.number()
	case c == 't':
		return v.lit("true")
	case c == 'f':
		return v.lit("false")
	case c == 'n':
		return v.lit("null")
	}
	return false
}

func (v *validator) lit(s string) bool {
	if len(v.b)-v.i < len(s) || string(v.b[v.i:v.i+len(s)]) != s {
		return false
	}
	v.i += len(s)
	return true
}

// digits skips the digits at v.i (eight bytes at a time, see skipDigits: the histogram's
// numbers have ~17 of them) and returns how many there were.
func (v *validator) digits() int {
	i := skipDigits(v.b, v.i)
	n := i - v.i
	v.i = i
	return n
}

func (v *validator) number() bool {
	if v.b[v.i] == '-' {
		v.i++
	}
	if v.i >= len(v.b) {
		return false
	}
	if v.b[v.i] == '0' {
		v.i++
	} else if v.digits() == 0 {
		return false
	}
	if v.i < len(v.b) && v.b[v.i] == '.' {
		v.i++
		if v.digits() == 0 {
			return false
		}
	}
	if v.i < len(v.b) && (v.b[v.i] == 'e' || v.b[v.i] == 'E') {
		v.i++
		if v.i < len(v.b) && (v.b[v.i] == '+' || v.b[v.i] == '-') {
			v.i++
		}
		if v.digits() == 0 {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func (v *validator) str() bool {
	v.i++ // opening quote
	for v.i < len(v.b) {
		c := v.b[v.i]
		switch {
		case c == '"':
			v.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if v.i+1 >= len(v.b) {
				return false
			}
			switch v.b[v.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				v.i += 2
			case 'u':
				if v.i+6 > len(v.b) || !isHex(v.b[v.i+2]) || !isHex(v.b[v.i+3]) || !isHex(v.b[v.i+4]) || !isHex(v.b[v.i+5]) {
					return false
				}
				v.i += 6
			default:
				return false
			}
		default:
			v.i++
		}
	}
	return false
}

func (v *validator) array(depth int) bool {
	if depth > maxDepth {
		return false
	}
	v.i++ // '['
	v.space()
	if v.i < len(v.b) && v.b[v.i] == ']' {
		v.i++
		return true
	}
	for {
		v.space()
		if !v.value(depth) {
			return false
		}
		v.space()
		if v.i >= len(v.b) {
			return false
		}
		switch v.b[v.i] {
		case ',':
			v.i++
		case ']':
			v.i++
			return true
		default:
			return false
		}
	}
}

func (v *validator) object(depth int) bool {
	if depth > maxDepth {
		return false
	}
	v.i++ // '{'
	v.space()
	if v.i < len(v.b) && v.b[v.i] == '}' {
		v.i++
		return true
	}
	for {
		v.space()
		k := v.i
		if v.i >= len(v.b) || v.b[v.i] != '"' || !v.str() {
			return false
		}
		kEnd := v.i
		v.space()
		if v.i >= len(v.b) || v.b[v.i] != ':' {
			return false
		}
		v.i++
		v.space()
		start := v.i
		key := v.b[k+1 : kEnd-1]
		if depth == 1 {
			v.inRaw = string(key) == "vl53l8ch_raw"
		}
		if depth == 2 && v.inRaw && string(key) == "bins_matrix" {
			if h := v.histValue(); h != nil {
				v.hist = h
			} else if !v.value(depth) {
				return false
			}
		} else if !v.value(depth) {
			return false
		}
		if depth == 1 && v.member != nil {
			v.member(v.b[k+1:kEnd-1], v.b[start:v.i])
		}
		v.space()
		if v.i >= len(v.b) {
			return false
		}
		switch v.b[v.i] {
		case ',':
			v.i++
		case '}':
			v.i++
			return true
		default:
			return false
		}
	}
}

// histValue validates the value at v.i as a regular 3-level array of numbers and
// quantises it (histSplit.parse does the same on an already validated frame). On
// anything else (other shapes, empty arrays, numbers too large, invalid JSON) it
// rewinds and returns nil: the caller then validates the value generically.
func (v *validator) histValue() *histSplit {
	start := v.i
	h := &histSplit{start: start, exp: HistScaleExp, q: make([]int64, 0, 8192)}
	sepSeen := false
	if !v.histLevel(h, 0, &sepSeen) {
		v.i = start
		return nil
	}
	h.end = v.i
	return h
}

func (v *validator) histLevel(h *histSplit, lvl int, sepSeen *bool) bool {
	if v.i >= len(v.b) || v.b[v.i] != '[' {
		return false
	}
	if lvl == 2 {
		return v.histRow(h, sepSeen)
	}
	v.i++
	n := 0
	for {
		v.space()
		if !v.histLevel(h, lvl+1, sepSeen) {
			return false
		}
		n++
		v.space()
		if v.i >= len(v.b) {
			return false
		}
		switch v.b[v.i] {
		case ',':
			if !*sepSeen {
				*sepSeen = true
				h.compact = v.i+1 >= len(v.b) || v.b[v.i+1] != ' '
			}
			v.i++
		case ']':
			v.i++
			return h.dim(lvl, n)
		default:
			return false
		}
	}
}

// histRow reads one innermost array of histogram numbers (v.b[v.i] == '['). It is
// histLevel's loop for the 8,192 cells, with the index and the values in locals (the
// hottest loop of a frame).
func (v *validator) histRow(h *histSplit, sepSeen *bool) bool {
	b, i, q := v.b, v.i+1, h.q
	defer func() { h.q = q }()
	n := 0
	for {
		i = skipSpace(b, i)
		if i >= len(b) || len(q) >= maxHistCells {
			return false
		}
		if c := b[i]; c != '-' && (c < '0' || c > '9') {
			return false
		}
		// The stations' form (0.0, 5.476879617318268) is validated and quantised in one
		// read; anything else is validated, then quantised.
		x, next, ok := quantiseStrict(b, i, h.exp)
		if !ok {
			v.i = i
			if !v.number() {
				return false
			}
			if x, _, ok = quantise(b[:v.i], i, h.exp); !ok {
				return false
			}
			next = v.i
		}
		q = append(q, x)
		n++
		i = skipSpace(b, next)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			if !*sepSeen {
				*sepSeen = true
				h.compact = i+1 >= len(b) || b[i+1] != ' '
			}
			i++
		case ']':
			v.i = i + 1
			return h.dim(2, n)
		default:
			return false
		}
	}
}
