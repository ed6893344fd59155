package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

	"github.com/sqalfn/sqal/shared/sample"
)

// Message types of /ws/realtime/ (contract §4.4).
const (
	typeConnectionEstablished = "connection_established"
	typeLatestSample          = "latest_sample"
	typeSensorUpdate          = "sensor_update"
	typeAlert                 = "alert"
	typePrediction            = "prediction"
	typeGavageRealtime        = "gavage_realtime"
	typePing                  = "ping"
	typeHeartbeat             = "heartbeat"
	typeHeartbeatAck          = "heartbeat_ack"
	typeSubscribe             = "subscribe"
	typeSubscribeAck          = "subscribe_ack"
	typeUnsubscribe           = "unsubscribe"
	typeUnsubscribeAck        = "unsubscribe_ack"

	welcomeMessage = "Connecté au flux temps réel SQAL"
)

// stamp formats a server time the way contract §0.1 prefers: UTC, microseconds, "+00:00".
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000-07:00") }

// clientFrame is a decoded client -> server frame.
type clientFrame struct {
	// Object is false for valid JSON that is not an object (ignored, contract §4.1).
	Object bool
	// Type is the "type" member when it is a string, else "".
	Type string
	// Filters is the "filters" member exactly as received (nil when absent).
	Filters json.RawMessage
}

var errNotJSON = errors.New("invalid JSON")

// decodeClientFrame parses one client text frame. Only unparsable input is an error
// (the caller closes the socket with 1011); anything else is tolerated.
func decodeClientFrame(b []byte) (clientFrame, error) {
	if !json.Valid(b) {
		return clientFrame{}, errNotJSON
	}
	trimmed := bytes.TrimLeft(b, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return clientFrame{}, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return clientFrame{}, errNotJSON
	}
	f := clientFrame{Object: true}
	if t, ok := raw["type"]; ok {
		_ = json.Unmarshal(t, &f.Type) // a non-string type stays "" (unknown, ignored)
	}
	if fl, ok := raw["filters"]; ok {
		f.Filters = fl
	}
	return f, nil
}

// field is one filter key: Set when the key is present (even with null), OK when its
// value is a string (only a string can equal a sample's value).
type field struct {
	Set bool
	OK  bool
	V   string
}

func (f field) matches(v *string) bool {
	return f.OK && v != nil && *v == f.V
}

// filter is a client's subscription (contract §4.3). The zero value lets everything through.
type filter struct {
	DeviceID field
	SiteCode field
	MinGrade field
	DataType field
}

// parseFilters reads a subscribe frame's filters. A non-object value means no filters.
func parseFilters(raw json.RawMessage) filter {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return filter{}
	}
	get := func(k string) field {
		v, ok := m[k]
		if !ok {
			return field{}
		}
		f := field{Set: true}
		f.OK = json.Unmarshal(v, &f.V) == nil && !bytes.Equal(bytes.TrimSpace(v), []byte("null"))
		return f
	}
	return filter{DeviceID: get("device_id"), SiteCode: get("site_code"), MinGrade: get("min_grade"), DataType: get("data_type")}
}

// allows applies the filter to a broadcast. device_id and site_code apply to samples,
// alerts and predictions (legacy sent alerts to everyone; the contract asks the new system
// to filter them too); min_grade to samples only; data_type "sqal_only" suppresses
// gavage_realtime only.
func (f filter) allows(m *broadcast) bool {
	switch m.Kind {
	case typeGavageRealtime:
		return !(f.DataType.OK && f.DataType.V == "sqal_only")
	case typeSensorUpdate, typeAlert, typePrediction:
	default:
		return true
	}
	if f.DeviceID.Set && !f.DeviceID.matches(m.DeviceID) {
		return false
	}
	if f.SiteCode.Set && !f.SiteCode.matches(m.SiteCode) {
		return false
	}
	if m.Kind == typeSensorUpdate && f.MinGrade.Set {
		min := 0
		if f.MinGrade.OK {
			min = sample.GradeRank(f.MinGrade.V)
		}
		g := ""
		if m.Grade != nil {
			g = *m.Grade
		}
		if sample.GradeRank(g) < min {
			return false
		}
	}
	return true
}

// Server -> client frames, with the contract's key order.

type simpleFrame struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
}

type welcomeFrame struct {
	Type              string `json:"type"`
	Timestamp         string `json:"timestamp"`
	Message           string `json:"message"`
	ActiveConnections int    `json:"active_connections"`
}

type subscribeAckFrame struct {
	Type      string          `json:"type"`
	Filters   json.RawMessage `json:"filters"`
	Timestamp string          `json:"timestamp"`
}

type dataFrame struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed frame structs are passed here
	}
	return b
}
