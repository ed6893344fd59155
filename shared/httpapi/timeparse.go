package httpapi

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// TimeError says why an inbound datetime was rejected; Reason uses pydantic's wording
// (e.g. "input is too short") so it can be echoed in a 422 message.
type TimeError struct {
	Input  string
	Reason string
}

func (e *TimeError) Error() string {
	return "invalid datetime " + strconv.Quote(e.Input) + ": " + e.Reason
}

// ParseTime parses an inbound datetime as the contract (§0.1) requires and FastAPI
// accepted: ISO-8601 with Z, with a numeric offset (+02:00, +0200, +02), or without
// offset (then UTC); 'T', 't', '_' or a space between date and time; a date alone
// (midnight UTC); Unix epoch seconds as an integer or decimal number (values above
// 2e10 are taken as milliseconds, like pydantic). A '+' offset that a query string
// decoded into a space ("10:00:00 02:00") is read as '+'. The result is in UTC.
func ParseTime(s string) (time.Time, error) {
	fail := func(reason string) (time.Time, error) { return time.Time{}, &TimeError{Input: s, Reason: reason} }
	in := strings.TrimSpace(s)
	if in == "" {
		return fail("input is too short")
	}
	if t, ok, reason := parseEpoch(in); ok {
		return t, nil
	} else if reason != "" {
		return fail(reason)
	}
	if _, ok := digits(in[:min(4, len(in))]); !ok {
		return fail("invalid character in year")
	}
	if len(in) < 10 {
		return fail("input is too short")
	}
	year, ok := digits(in[0:4])
	if !ok {
		return fail("invalid character in year")
	}
	if in[4] != '-' {
		return fail("invalid date separator, expected `-`")
	}
	month, ok := digits(in[5:7])
	if !ok {
		return fail("invalid character in month")
	}
	if in[7] != '-' {
		return fail("invalid date separator, expected `-`")
	}
	day, ok := digits(in[8:10])
	if !ok {
		return fail("invalid character in day")
	}
	if month < 1 || month > 12 {
		return fail("month value is outside expected range of 1-12")
	}
	if day < 1 || day > daysIn(year, month) {
		return fail("day value is outside expected range")
	}
	if year == 0 {
		return fail("year value is outside expected range")
	}
	if len(in) == 10 {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), nil
	}
	switch in[10] {
	case 'T', 't', '_', ' ':
	default:
		return fail("invalid datetime separator, expected `T`, `t`, `_` or space")
	}
	rest := in[11:]
	if len(rest) < 5 {
		return fail("input is too short")
	}
	hour, ok := digits(rest[0:2])
	if !ok {
		return fail("invalid character in hour")
	}
	if rest[2] != ':' {
		return fail("invalid time separator, expected `:`")
	}
	minute, ok := digits(rest[3:5])
	if !ok {
		return fail("invalid character in minute")
	}
	rest = rest[5:]
	second, nanos := 0, 0
	if len(rest) > 0 && rest[0] == ':' {
		if len(rest) < 3 {
			return fail("input is too short")
		}
		if second, ok = digits(rest[1:3]); !ok {
			return fail("invalid character in second")
		}
		rest = rest[3:]
		if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
			n := 1
			for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
				n++
			}
			frac := rest[1:n]
			if frac == "" {
				return fail("invalid character in second fraction")
			}
			if len(frac) > 9 {
				frac = frac[:9]
			}
			f, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
			nanos = f
			rest = rest[n:]
		}
	}
	if hour > 23 {
		return fail("hour value is outside expected range of 0-23")
	}
	if minute > 59 {
		return fail("minute value is outside expected range of 0-59")
	}
	if second > 59 {
		return fail("second value is outside expected range of 0-59")
	}
	offset, reason := parseOffset(rest)
	if reason != "" {
		return fail(reason)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nanos, time.UTC)
	t = t.Add(-time.Duration(offset) * time.Second)
	if t.Year() < 1 || t.Year() > 9999 { // Python's datetime range, which clients share
		return fail("datetime is outside expected range")
	}
	return t, nil
}

// parseEpoch reads a Unix timestamp; ok=false with no reason means "not a number".
func parseEpoch(s string) (t time.Time, ok bool, reason string) {
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 || body == "" {
		return time.Time{}, false, ""
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if (c < '0' || c > '9') && c != '.' {
			return time.Time{}, false, ""
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return time.Time{}, false, "invalid datetime number"
	}
	if math.Abs(f) > 2e10 {
		f /= 1000 // milliseconds, as pydantic decides
	}
	if f > 253402300799 || f < -62135596800 { // years 1..9999, Python's datetime range
		return time.Time{}, false, "timestamp value is outside expected range"
	}
	sec := math.Floor(f)
	nsec := math.Round((f - sec) * 1e6) // microsecond precision, like Python datetimes
	return time.Unix(int64(sec), int64(nsec)*1000).UTC(), true, ""
}

// parseOffset reads the zone suffix and returns its offset in seconds east of UTC.
func parseOffset(s string) (int, string) {
	switch s {
	case "":
		return 0, ""
	case "Z", "z":
		return 0, ""
	}
	sign := 1
	switch s[0] {
	case '+', ' ': // ' ' is a '+' that query-string decoding turned into a space
	case '-':
		sign = -1
	default:
		return 0, "unexpected extra characters at the end of the input"
	}
	z := s[1:]
	var hh, mm int
	var ok bool
	switch {
	case len(z) == 2:
		hh, ok = digits(z)
	case len(z) == 4:
		hh, ok = digits(z[:2])
		if ok {
			mm, ok = digits(z[2:])
		}
	case len(z) == 5 && z[2] == ':':
		hh, ok = digits(z[:2])
		if ok {
			mm, ok = digits(z[3:])
		}
	default:
		if len(z) < 2 {
			return 0, "input is too short"
		}
		return 0, "unexpected extra characters at the end of the input"
	}
	if !ok {
		return 0, "invalid timezone sign"
	}
	if hh > 23 || mm > 59 {
		return 0, "timezone offset must be less than 24 hours"
	}
	return sign * (hh*3600 + mm*60), ""
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
