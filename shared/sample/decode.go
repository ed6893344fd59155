package sample

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Frame types of /ws/sensors/ (contract §1.2). Any other type, or none, is a sample.
const (
	TypeHello      = "esp32_hello"
	TypePing       = "ping"
	TypeHeartbeat  = "heartbeat"
	TypeSensorData = "sensor_data"
)

// ErrNotJSON is returned by Decode for bytes that are not one JSON value (the WebSocket
// closes with 1011 on it); ErrNotObject for JSON that is not an object (an error reply).
var (
	ErrNotJSON   = errors.New("invalid JSON")
	ErrNotObject = errors.New("frame must be a JSON object")
)

// Frame is an inbound /ws/sensors/ frame decoded at the top level only: enough to
// dispatch it; Sample validates and adapts it.
type Frame struct {
	// Raw is the frame exactly as received; it is what raw_message stores and what an
	// error reply echoes.
	Raw []byte
	// JSON is Raw with the non-standard tokens NaN/Infinity/-Infinity replaced by null
	// (the same slice as Raw when there were none).
	JSON []byte
	// Type is the "type" member when it is a string, "" otherwise.
	Type string

	w        wireFrame
	hist     *histSplit // the quantised histogram (see histogram), once computed
	histDone bool
	preHist  *histSplit // quantised by the validator, a candidate for hist
}

// IsSample reports whether the frame is processed as a sample: type absent,
// "sensor_data" or any value other than hello, ping and heartbeat (legacy dispatch).
func (f *Frame) IsSample() bool {
	switch f.Type {
	case TypeHello, TypePing, TypeHeartbeat:
		return false
	}
	return true
}

// DeviceID returns the frame's device_id when it is a non-empty string.
func (f *Frame) DeviceID() (string, bool) {
	s, ok := rawString(f.w.DeviceID)
	return s, ok && s != ""
}

// FirmwareVersion returns the frame's top-level firmware_version string, if any.
func (f *Frame) FirmwareVersion() (string, bool) { return rawString(f.w.FirmwareVersion) }

// Timestamp returns the frame's timestamp parsed per §0.1, if present and valid.
func (f *Frame) Timestamp() (time.Time, bool) {
	t, err := parseTimestamp(f.w.Timestamp)
	if err != nil || t == nil {
		return time.Time{}, false
	}
	return *t, true
}

// Decode decodes the top level of an inbound frame. It returns ErrNotJSON (wrapped)
// when b is not valid UTF-8 JSON, and ErrNotObject when it is JSON but not an object.
//
// The legacy parser accepted the non-standard tokens NaN, Infinity and -Infinity; they
// are read as null (§1.2). The standard library rejects them, so Decode validates
// strictly first and rewrites the tokens only when that fails.
func Decode(b []byte) (*Frame, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrNotJSON)
	}
	f := &Frame{Raw: b, JSON: b}
	// One pass validates the frame, locates its top-level members and quantises the
	// histogram (splitHistogram checks it is the one the frame's members designate).
	v := validator{b: b, member: f.w.set}
	if v.valid() {
		f.preHist = v.hist
	} else {
		f.w = wireFrame{}
		clean, changed := ReplaceNonFinite(b)
		if !changed || !validJSONMembers(clean, f.w.set) {
			var v any
			err := json.Unmarshal(b, &v) // only to word the error
			return nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
		}
		f.JSON = clean
	}
	if t := skipSpace(f.JSON, 0); t >= len(f.JSON) || f.JSON[t] != '{' {
		return nil, ErrNotObject
	}
	f.Type, _ = rawString(f.w.Type)
	return f, nil
}

// ReplaceNonFinite rewrites the tokens NaN, Infinity and -Infinity that appear outside
// strings as null. It returns b unchanged (and false) when there are none. Everything
// else, including invalid JSON, is copied as is.
func ReplaceNonFinite(b []byte) ([]byte, bool) {
	var out []byte
	last := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++ // skip the escaped byte (hex digits of \uXXXX are harmless)
			case '"':
				inString = false
			}
			continue
		}
		var n int
		switch {
		case c == '"':
			inString = true
			continue
		case c == 'N' && bytes.HasPrefix(b[i:], []byte("NaN")):
			n = 3
		case c == 'I' && bytes.HasPrefix(b[i:], []byte("Infinity")):
			n = 8
		case c == '-' && bytes.HasPrefix(b[i:], []byte("-Infinity")):
			n = 9
		default:
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(b)+8)
		}
		out = append(out, b[last:i]...)
		out = append(out, "null"...)
		i += n - 1
		last = i + 1
	}
	if out == nil {
		return b, false
	}
	return append(out, b[last:]...), true
}

// wireFrame is the top level of a frame. Every member is kept raw: only the fields the
// contract validates are checked (by Frame.Sample), anything else is persisted as sent
// and must never make a frame fail. Keys match exactly (case-sensitive, like the legacy
// parser); with duplicate keys the last one wins.
type wireFrame struct {
	Type, Timestamp, SampleID, DeviceID, Location []byte
	VL53, AS7341, Fusion, Meta, VL53Raw           []byte
	LotAbattage, Eleveur, Provenance              []byte
	LotID, CodeLot, SiteCode, FirmwareVersion     []byte
	TemperatureC, HumidityPct                     []byte
}

// set records a top-level member given its raw key (the bytes between the quotes).
// Keys are unescaped only when they contain a backslash (as eachMember does).
func (w *wireFrame) set(rawKey, v []byte) {
	if bytes.IndexByte(rawKey, '\\') >= 0 {
		var key string
		q := make([]byte, 0, len(rawKey)+2)
		q = append(append(append(q, '"'), rawKey...), '"')
		_ = json.Unmarshal(q, &key)
		rawKey = []byte(key)
	}
	switch string(rawKey) { // no allocation for a switch
	case "type":
		w.Type = v
	case "timestamp":
		w.Timestamp = v
	case "sample_id":
		w.SampleID = v
	case "device_id":
		w.DeviceID = v
	case "location":
		w.Location = v
	case "vl53l8ch":
		w.VL53 = v
	case "as7341":
		w.AS7341 = v
	case "fusion":
		w.Fusion = v
	case "meta":
		w.Meta = v
	case "vl53l8ch_raw":
		w.VL53Raw = v
	case "lot_abattage":
		w.LotAbattage = v
	case "eleveur":
		w.Eleveur = v
	case "provenance":
		w.Provenance = v
	case "lot_id":
		w.LotID = v
	case "code_lot":
		w.CodeLot = v
	case "site_code":
		w.SiteCode = v
	case "firmware_version":
		w.FirmwareVersion = v
	case "temperature_c":
		w.TemperatureC = v
	case "humidity_pct":
		w.HumidityPct = v
	}
}
