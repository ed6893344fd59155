package ingest

import (
	"encoding/json"
	"time"

	"github.com/sqalfn/sqal/shared/sample"
)

// Server -> device frames of /ws/sensors/ (contract §1.3). Struct field order is the
// wire key order.

const connectedMessage = "Connecté au backend SQAL"

type connectionEstablished struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Message   string `json:"message"`
}

type helloAck struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Message   string `json:"message"`
}

type pong struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
}

type heartbeatAck struct {
	Type      string  `json:"type"`
	Timestamp string  `json:"timestamp"`
	DeviceID  *string `json:"device_id"`
}

// Ack statuses: "duplicate" is new (contract §1.7 step 3a).
const (
	StatusSaved     = "saved"
	StatusDuplicate = "duplicate"
)

// Ack is the reply to a stored sample; HTTP uploads answer with it too.
type Ack struct {
	Type        string  `json:"type"`
	SampleID    string  `json:"sample_id"`
	Timestamp   string  `json:"timestamp"`
	Status      string  `json:"status"`
	FusionScore float64 `json:"fusion_score"`
	FusionGrade string  `json:"fusion_grade"`
}

type errorReply struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func now() string { return sample.FormatTime(time.Now()) }

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own structs are encoded here; RawMessage members are validated JSON.
		panic("ingest: encode reply: " + err.Error())
	}
	return b
}

func ackFor(s *sample.Sample, status string) Ack {
	return Ack{Type: "ack", SampleID: s.SampleID, Timestamp: now(), Status: status,
		FusionScore: s.Fusion.FinalScore, FusionGrade: s.Fusion.FinalGrade}
}

// errorFrame echoes the frame as received (§1.3); data is null when it is not JSON.
func errorFrame(msg string, data []byte) []byte {
	if !json.Valid(data) {
		data = nil
	}
	return encode(errorReply{Type: "error", Timestamp: now(), Error: msg, Data: data})
}
