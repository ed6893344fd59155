package sqalapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/sqalread"
	"github.com/sqalfn/sqal/shared/tenant"
)

// alerts is #11 GET /api/sqal/alerts: newest first. Not cached: the SQAL dashboard
// polls it every 5 s and the query is one index range of at most 500 rows.
func (a *API) alerts(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	start, end := a.timeRange(p, 24*time.Hour)
	severity := p.Query("severity").OptString()
	ack := p.Query("is_acknowledged").OptBool()
	limit := p.Query("limit").Int(100, httpapi.Ge(1), httpapi.Le(500))
	if !p.Check(w) {
		return
	}
	q := `SELECT ` + sqalread.AlertColumns + ` FROM sqal_alerts WHERE "time" BETWEEN $1 AND $2`
	args := []any{start, end}
	if severity != nil {
		args = append(args, *severity)
		q += ` AND severity = $` + strconv.Itoa(len(args))
	}
	if ack != nil {
		args = append(args, *ack)
		q += ` AND COALESCE(acknowledged, false) = $` + strconv.Itoa(len(args))
	}
	args = append(args, limit)
	q += ` ORDER BY "time" DESC, alert_id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := a.db.Query(r.Context(), q, args...)
	if err != nil {
		a.fail(w, r, fmt.Errorf("list alerts: %w", err))
		return
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sqalread.AlertDB, error) {
		return sqalread.ScanAlert(row)
	})
	if err != nil {
		a.fail(w, r, fmt.Errorf("list alerts: %w", err))
		return
	}
	if list == nil {
		list = []*sqalread.AlertDB{}
	}
	httpapi.JSON(w, http.StatusOK, list)
}

// alertCreate is the AlertCreate body of #7. Fields are raw so that every field can be
// validated and reported like pydantic does (all errors at once, exact types).
type alertCreate struct {
	DeviceID    json.RawMessage `json:"device_id"`
	SampleID    json.RawMessage `json:"sample_id"`
	AlertType   json.RawMessage `json:"alert_type"`
	Severity    json.RawMessage `json:"severity"`
	Message     json.RawMessage `json:"message"`
	DataContext json.RawMessage `json:"data_context"`
}

var severities = []string{"info", "warning", "critical"}

// validate returns the checked values or the pydantic-shaped error items.
func (b *alertCreate) validate() (vals map[string]string, ctx json.RawMessage, items []httpapi.ErrorItem) {
	vals = map[string]string{}
	str := func(name string, raw json.RawMessage) (string, bool) {
		loc := []any{"body", name}
		if len(raw) == 0 {
			items = append(items, httpapi.Missing(loc...))
			return "", false
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			var in any
			_ = json.Unmarshal(raw, &in)
			items = append(items, httpapi.ErrorItem{Type: "string_type", Loc: loc, Msg: "Input should be a valid string", Input: in})
			return "", false
		}
		return s, true
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"device_id", b.DeviceID}, {"sample_id", b.SampleID}, {"alert_type", b.AlertType}} {
		if s, ok := str(f.name, f.raw); ok {
			vals[f.name] = s
		}
	}
	if s, ok := str("severity", b.Severity); ok {
		valid := false
		for _, v := range severities {
			valid = valid || s == v
		}
		if !valid {
			items = append(items, httpapi.EnumError(s, severities, "body", "severity"))
		} else {
			vals["severity"] = s
		}
	}
	if s, ok := str("message", b.Message); ok {
		// pydantic counts characters, not bytes.
		if it := httpapi.CheckLength(s, []any{"body", "message"}, httpapi.MinLen(1), httpapi.MaxLen(500)); it != nil {
			items = append(items, it...)
		} else {
			vals["message"] = s
		}
	}
	if len(b.DataContext) > 0 && string(b.DataContext) != "null" {
		if b.DataContext[0] != '{' {
			var in any
			_ = json.Unmarshal(b.DataContext, &in)
			items = append(items, httpapi.ErrorItem{Type: "dict_type", Loc: []any{"body", "data_context"}, Msg: "Input should be a valid dictionary", Input: in})
		} else {
			ctx = b.DataContext
		}
	}
	return vals, ctx, items
}

// createAlert is #7 POST /api/sqal/alerts. Every valid body is stored (legacy answered
// 500 for any data_context or unknown device): data_context JSON-encoded in
// defect_details, title = alert_type. A device or sample of another organisation is a
// 404 (alertOrganization).
//
// The schema keeps one alert per (sample_id, alert_type) (the alerts step relies on it
// for idempotency); posting the same pair again returns the existing alert's id.
func (a *API) createAlert(w http.ResponseWriter, r *http.Request) {
	var body alertCreate
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		var ve *httpapi.ValidationError
		if errors.As(err, &ve) && strings.HasPrefix(firstType(ve), "dict_type") {
			// A JSON value that is not an object: FastAPI reports model_attributes_type.
			httpapi.WriteValidation(w, httpapi.ErrorItem{Type: "model_attributes_type", Loc: []any{"body"},
				Msg: "Input should be a valid dictionary or object to extract fields from", Input: ve.Items[0].Input})
			return
		}
		httpapi.Fail(w, r, err)
		return
	}
	vals, dataCtx, items := body.validate()
	if len(items) > 0 {
		httpapi.WriteValidation(w, items...)
		return
	}
	id, err := a.storeAlert(r.Context(), vals, dataCtx)
	var nf notFoundError
	if errors.As(err, &nf) {
		httpapi.Detail(w, http.StatusNotFound, string(nf))
		return
	}
	if err != nil {
		a.log.ErrorContext(r.Context(), "create alert", "error", err)
		httpapi.Detail(w, http.StatusInternalServerError, "Unable to create alert")
		return
	}
	a.cache.bump(r.Context())
	httpapi.JSON(w, http.StatusOK, map[string]int64{"alert_id": id})
}

// notFoundError is answered 404 with its text: the alert names a device or sample of
// another organisation.
type notFoundError string

func (e notFoundError) Error() string { return string(e) }

// alertOrganization returns the organisation a new alert belongs to: its device's, else
// its sample's, else the request's (the default organisation for a super_admin; nil
// without a scope, and the column default decides). The device and sample are looked
// up across organisations (tenant.All, on purpose): in an organisation's scope, a
// device or sample of another organisation is refused (404, as if absent) rather than
// stored as this organisation's alert, which would take the sample's one alert of that
// type (unique per sample and type) away from its owner.
func (a *API) alertOrganization(ctx context.Context, deviceID, sampleID string) (*string, error) {
	scope, scoped := tenant.From(ctx)
	var devOrg, sampleOrg *string
	err := a.db.QueryRow(tenant.With(ctx, tenant.All()), `SELECT
  (SELECT organization_id::text FROM sqal_devices WHERE device_id = left($1, 100)),
  (SELECT organization_id::text FROM sensor_samples WHERE sample_id = left($2, 100))`,
		deviceID, sampleID).Scan(&devOrg, &sampleOrg)
	if err != nil {
		return nil, fmt.Errorf("resolve alert organisation: %w", err)
	}
	if scoped && !scope.All {
		if devOrg != nil && *devOrg != scope.Organization {
			return nil, notFoundError(fmt.Sprintf("Device %s introuvable", deviceID))
		}
		if sampleOrg != nil && *sampleOrg != scope.Organization {
			return nil, notFoundError(fmt.Sprintf("Échantillon %s introuvable", sampleID))
		}
	}
	switch {
	case devOrg != nil:
		return devOrg, nil
	case sampleOrg != nil:
		return sampleOrg, nil
	case !scoped:
		// No scope: the insert's default and policy decide (under the application role
		// the database refuses it).
		return nil, nil
	case scope.All:
		org := tenant.DefaultOrganization
		return &org, nil
	}
	return &scope.Organization, nil
}

// storeAlert inserts the alert and, in the same transaction, its sqal.alert.raised
// event (the one the alerts step emits), so realtime broadcasts manual alerts too
// (contract §5.4 #7: SHOULD broadcast). An existing (sample, type) alert is returned
// as is, without a second event.
func (a *API) storeAlert(ctx context.Context, vals map[string]string, dataCtx json.RawMessage) (int64, error) {
	org, err := a.alertOrganization(ctx, vals["device_id"], vals["sample_id"])
	if err != nil {
		return 0, err
	}
	tx, err := a.db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// The organisation is named: the column default (the transaction's organisation)
	// would be the default organisation in a super_admin's scope.
	var (
		id     int64
		stored string
	)
	err = tx.QueryRow(ctx, `INSERT INTO sqal_alerts ("time", device_id, sample_id, alert_type, severity, title, message, defect_details, acknowledged, organization_id)
VALUES ($1, left($2, 100), left($3, 100), left($4, 50), $5, left($4, 200), $6, $7, false,
  COALESCE($8::uuid, sqal_row_organization()))
ON CONFLICT (sample_id, alert_type) DO NOTHING
RETURNING alert_id, organization_id::text`,
		a.now(), vals["device_id"], vals["sample_id"], vals["alert_type"], vals["severity"], vals["message"], nullJSON(dataCtx), org).Scan(&id, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		// This sample already has an alert of this type: answer its id. The pair is
		// unique across organisations; when the existing alert is another
		// organisation's (a sample id stored nowhere, alerted elsewhere), it stays
		// invisible and untouched: 404.
		err = tx.QueryRow(ctx, `SELECT alert_id FROM sqal_alerts WHERE sample_id = left($1, 100) AND alert_type = left($2, 50)`,
			vals["sample_id"], vals["alert_type"]).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, notFoundError(fmt.Sprintf("Échantillon %s introuvable", vals["sample_id"]))
		}
		if err != nil {
			return 0, fmt.Errorf("read existing alert: %w", err)
		}
		return id, tx.Commit(ctx)
	}
	if err != nil {
		return 0, fmt.Errorf("insert alert: %w", err)
	}
	rec, err := sqalread.AlertByID(ctx, tx, id)
	if err != nil {
		return 0, err
	}
	var site *string
	if err := tx.QueryRow(ctx, `SELECT site_code FROM sqal_devices WHERE device_id = $1`, rec.DeviceID).Scan(&site); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("read device site: %w", err)
	}
	e := cloudevents.NewEvent()
	e.SetID(alert.EventID(rec.SampleID, rec.AlertType))
	e.SetSource(alert.Source)
	e.SetType(alert.TypeRaised)
	e.SetSubject(rec.SampleID)
	e.SetTime(rec.Time.Time())
	e.SetExtension(alert.ExtDevice, rec.DeviceID)
	// Named explicitly: AddToOutbox stamps the scope's organisation, and a super_admin's
	// scope has none.
	e.SetExtension(tenant.EventExtension, stored)
	if site != nil && *site != "" {
		e.SetExtension(alert.ExtSite, *site)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, rec); err != nil {
		return 0, fmt.Errorf("encode alert event: %w", err)
	}
	if err := events.AddToOutbox(ctx, tx, e); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit alert: %w", err)
	}
	return id, nil
}

func firstType(ve *httpapi.ValidationError) string {
	if len(ve.Items) == 0 {
		return ""
	}
	if len(ve.Items[0].Loc) == 1 {
		return ve.Items[0].Type
	}
	return ""
}

func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

type ackResponse struct {
	Success        bool   `json:"success"`
	AlertID        int64  `json:"alert_id"`
	AcknowledgedBy string `json:"acknowledged_by"`
	AcknowledgedAt stamp  `json:"acknowledged_at"`
}

// acknowledge is #12 POST /api/sqal/alerts/{alert_id}/acknowledge: 404 for an unknown
// alert (legacy answered success), including another organisation's (row-level
// security: the UPDATE does not see it, so it stays unchanged).
func (a *API) acknowledge(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	id := p.Path("alert_id").RequiredInt()
	by := p.Query("acknowledged_by").RequiredString()
	if !p.Check(w) {
		return
	}
	now := a.now()
	tag, err := a.db.Exec(r.Context(), `UPDATE sqal_alerts SET acknowledged = true, acknowledged_at = $2, acknowledged_by = $3
WHERE alert_id = $1`, id, now, by)
	if err != nil {
		a.log.ErrorContext(r.Context(), "acknowledge alert", "alert_id", id, "error", err)
		httpapi.Detail(w, http.StatusInternalServerError, "Échec acquittement")
		return
	}
	if tag.RowsAffected() == 0 {
		httpapi.Detail(w, http.StatusNotFound, fmt.Sprintf("Alerte %d introuvable", id))
		return
	}
	a.cache.bump(r.Context())
	a.recordAcknowledgement(r, id, by)
	httpapi.JSON(w, http.StatusOK, ackResponse{Success: true, AlertID: int64(id), AcknowledgedBy: by, AcknowledgedAt: stamp(now)})
}
