// Package alerts is the alerts step: it consumes sqal.sample.stored, applies the legacy
// quality rules (shared/alert), then the enabled user rules of the sample's organisation
// (table alert_rules, rules.go), stores one sqal_alerts row per (sample, alert type), and
// emits sqal.alert.raised for every new alert through the outbox, all in one transaction.
//
// Delivery is at least once, so the step is idempotent twice over: events.Idempotent
// records (source, id) with the effect, and the unique (sample_id, alert_type) index
// keeps a second copy of the same sample (another source, a replay) from adding rows or
// events.
//
// Organisations: events.Idempotent runs Handle in the organisation of the event's
// organizationid extension (the default organisation without one), so row-level
// security shows the transaction that organisation's alert rules only, the alert rows
// take it from the column default of the scoped transaction, and AddToOutbox names it on
// every sqal.alert.raised event.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sqalread"
)

// Consumer is the name under which processed events are recorded.
const Consumer = "alerts"

// Function is the alerts step.
var Function = runtime.Function{
	Target:  "Alerts",
	Service: "alerts",
	Needs:   runtime.Needs{DB: true, Outbox: true},
	Event:   setup,
}

func init() { runtime.Register(Function) }

func setup(_ context.Context, env *runtime.Env) (runtime.EventHandler, error) {
	if env.DB == nil {
		return nil, errors.New("alerts: database pool required")
	}
	return events.Idempotent(env.DB, Consumer, Handle), nil
}

// Handle processes one sqal.sample.stored event inside tx (the transaction that also
// records the event as processed). Undecodable data is a permanent failure.
func Handle(ctx context.Context, tx pgx.Tx, e cloudevents.Event) error {
	s, err := decode(e)
	if err != nil {
		return events.Permanent(err)
	}
	if _, err := Raise(ctx, tx, s); err != nil {
		return err
	}
	return nil
}

// decode reads the data of a sqal.sample.stored event; every error is the sender's.
func decode(e cloudevents.Event) (sample.StoredEvent, error) {
	if e.Type() != sample.TypeStored {
		return sample.StoredEvent{}, fmt.Errorf("alerts: unexpected event type %q", e.Type())
	}
	s, err := sample.DecodeStoredEvent(e.Data())
	if err != nil {
		return s, fmt.Errorf("alerts: decode %s data of event %s: %w", e.Type(), e.ID(), err)
	}
	if s.SampleID == "" || s.DeviceID == "" {
		return s, fmt.Errorf("alerts: event %s: sample_id and device_id are required", e.ID())
	}
	return s, nil
}

// Raise evaluates the legacy rules, then the enabled user rules visible in tx, on s and
// stores the alerts they raise inside tx, adding one sqal.alert.raised event per alert
// that did not exist yet. It returns the new alerts.
func Raise(ctx context.Context, tx pgx.Tx, s sample.StoredEvent) ([]*sqalread.AlertDB, error) {
	alerts := alert.Evaluate(ruleInput(s))
	user, err := userRuleAlerts(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	alerts = append(alerts, user...)
	var out []*sqalread.AlertDB
	for _, a := range alerts {
		rec, err := insert(ctx, tx, s, a)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			continue // this sample already raised this alert: no second row, no second event
		}
		e, err := raisedEvent(rec, s.SiteCode)
		if err != nil {
			return nil, err
		}
		if err := events.AddToOutbox(ctx, tx, e); err != nil {
			return nil, fmt.Errorf("alerts: outbox %s: %w", e.ID(), err)
		}
		out = append(out, rec)
	}
	return out, nil
}

func ruleInput(s sample.StoredEvent) alert.Sample {
	return alert.Sample{
		FinalScore:           s.FinalScore,
		FinalGrade:           s.FinalGrade,
		IsCompliant:          s.IsCompliant,
		ToFQualityScore:      s.ToFQualityScore,
		SpectralQualityScore: s.SpectralQualityScore,
		OxidationIndex:       s.OxidationIndex,
		FatQualityIndex:      s.FatQualityIndex,
		FreshnessIndex:       s.FreshnessIndex,
	}
}

// insertAlert writes the row the way contract §3 describes it (title = alert_type, or the
// alert's own title: a user rule's name; data_context JSON-encoded into defect_details).
// ON CONFLICT makes a redelivery a no-op; RETURNING then yields no row, which is how a
// new alert is told from an old one. The returned columns are the read API's, so the
// event carries the exact AlertDB object GET /api/sqal/alerts will show.
const insertAlert = `
INSERT INTO sqal_alerts (time, sample_id, device_id, lot_id, alert_type, severity, title,
                         message, defect_details, threshold_value, actual_value, acknowledged)
VALUES (now(), $1, $2, $3, $4, $5, $10, $6, $7, $8, $9, false)
ON CONFLICT (sample_id, alert_type) DO NOTHING
RETURNING ` + sqalread.AlertColumns

func insert(ctx context.Context, tx pgx.Tx, s sample.StoredEvent, a alert.Alert) (*sqalread.AlertDB, error) {
	details, err := json.Marshal(a.Context)
	if err != nil {
		return nil, fmt.Errorf("alerts: encode context of %s/%s: %w", s.SampleID, a.Type, err)
	}
	title := a.Title
	if title == "" {
		title = a.Type
	}
	rec, err := sqalread.ScanAlert(tx.QueryRow(ctx, insertAlert, s.SampleID, s.DeviceID, s.LotID,
		a.Type, a.Severity, a.Message, string(details), numericColumn(a.Threshold), numericColumn(a.Actual), title))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("alerts: store %s alert of sample %s: %w", a.Type, s.SampleID, err)
	}
	return rec, nil
}

// numericColumn is x for threshold_value and actual_value, numeric(10, 4), or nil when
// x does not fit (a volume in mm³ often does not); data_context keeps the exact value.
func numericColumn(x *float64) *float64 {
	if x == nil || !(math.Abs(*x) < 999999.999) {
		return nil
	}
	return x
}

func raisedEvent(rec *sqalread.AlertDB, site *string) (cloudevents.Event, error) {
	e := cloudevents.NewEvent()
	e.SetID(alert.EventID(rec.SampleID, rec.AlertType))
	e.SetSource(alert.Source)
	e.SetType(alert.TypeRaised)
	e.SetSubject(rec.SampleID)
	e.SetTime(rec.Time.Time())
	e.SetExtension(alert.ExtDevice, rec.DeviceID)
	if site != nil && *site != "" {
		e.SetExtension(alert.ExtSite, *site)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, rec); err != nil {
		return e, fmt.Errorf("alerts: encode event %s: %w", e.ID(), err)
	}
	return e, nil
}
