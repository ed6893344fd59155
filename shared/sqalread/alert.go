package sqalread

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// AlertDB is one quality alert as the SQAL contract exposes it (§5.2), from a
// sqal_alerts row.
type AlertDB struct {
	Time           httpapi.Timestamp  `json:"time"`
	AlertID        int64              `json:"alert_id"`
	DeviceID       string             `json:"device_id"`
	SampleID       string             `json:"sample_id"`
	AlertType      string             `json:"alert_type"`
	Severity       string             `json:"severity"`
	Message        string             `json:"message"`
	DataContext    json.RawMessage    `json:"data_context"`
	IsAcknowledged bool               `json:"is_acknowledged"`
	AcknowledgedAt *httpapi.Timestamp `json:"acknowledged_at"`
	AcknowledgedBy *string            `json:"acknowledged_by"`
}

// AlertColumns is the select list ScanAlert expects. The COALESCEs implement the
// contract's mapping (NULL ids → "", message else title else "", NULL ack → false).
const AlertColumns = `time, alert_id, COALESCE(device_id, ''), COALESCE(sample_id, ''),
 alert_type, severity, COALESCE(message, title, ''), defect_details,
 COALESCE(acknowledged, false), acknowledged_at, acknowledged_by`

// ScanAlert reads one row selected with AlertColumns.
func ScanAlert(row pgx.Row) (*AlertDB, error) {
	var (
		a     AlertDB
		t     time.Time
		ackAt *time.Time
		ctx   []byte
	)
	if err := row.Scan(&t, &a.AlertID, &a.DeviceID, &a.SampleID, &a.AlertType, &a.Severity,
		&a.Message, &ctx, &a.IsAcknowledged, &ackAt, &a.AcknowledgedBy); err != nil {
		return nil, err
	}
	a.Time = httpapi.Timestamp(t)
	a.AcknowledgedAt = httpapi.TimePtr(ackAt)
	a.DataContext = decodeContext(ctx)
	return &a, nil
}

// decodeContext returns defect_details as a JSON value. Legacy (demo branch) stored
// the context JSON-encoded twice, i.e. as a jsonb string holding an object: unwrap it
// when the string itself is valid JSON.
func decodeContext(b []byte) json.RawMessage {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err == nil && json.Valid([]byte(s)) {
			return json.RawMessage(s)
		}
	}
	return json.RawMessage(b)
}

// ErrNoAlert is returned when no alert has the requested id.
var ErrNoAlert = errors.New("no alert")

// AlertByID reads one alert, or ErrNoAlert.
func AlertByID(ctx context.Context, db Querier, alertID int64) (*AlertDB, error) {
	a, err := ScanAlert(db.QueryRow(ctx, `SELECT `+AlertColumns+` FROM sqal_alerts WHERE alert_id = $1`, alertID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoAlert
	}
	if err != nil {
		return nil, fmt.Errorf("read alert %d: %w", alertID, err)
	}
	return a, nil
}

// AlertPayload is the "payload" object of the /ws/realtime/ alert message (§4.4),
// which the SQAL dashboard reads for message types it does not know.
type AlertPayload struct {
	ID           string            `json:"id"`
	Severity     string            `json:"severity"`
	Title        string            `json:"title"`
	Message      string            `json:"message"`
	Source       string            `json:"source"`
	Timestamp    httpapi.Timestamp `json:"timestamp"`
	Acknowledged bool              `json:"acknowledged"`
}

// Payload builds the alert message's payload from the alert (title = alert_type,
// source = device_id, as the contract states). The alert of a user rule (alert type
// rule:<uuid>) is titled with the rule's name from its data_context instead: the
// dashboard shows the title, and a uuid tells an operator nothing.
func (a *AlertDB) Payload() AlertPayload {
	title := a.AlertType
	if strings.HasPrefix(title, alert.RuleTypePrefix) {
		var rule struct {
			Name string `json:"rule_name"`
		}
		if json.Unmarshal(a.DataContext, &rule) == nil && rule.Name != "" {
			title = rule.Name
		}
	}
	return AlertPayload{
		ID:           strconv.FormatInt(a.AlertID, 10),
		Severity:     a.Severity,
		Title:        title,
		Message:      a.Message,
		Source:       a.DeviceID,
		Timestamp:    a.Time,
		Acknowledged: a.IsAcknowledged,
	}
}
