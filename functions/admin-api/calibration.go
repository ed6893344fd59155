package adminapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// calibrationDuration is the simulated run (backend-new §2.8: "completed, simulated,
// ≤ 2 min"): progress is derived from the elapsed time when read, so no worker runs.
const calibrationDuration = 2 * time.Minute

type calibration struct {
	ID          string             `json:"id"`
	DeviceID    string             `json:"device_id"`
	SensorType  string             `json:"sensor_type"`
	Status      string             `json:"status"`
	Progress    int                `json:"progress"`
	CreatedAt   httpapi.Timestamp  `json:"created_at"`
	CompletedAt *httpapi.Timestamp `json:"completed_at,omitempty"`
	Parameters  json.RawMessage    `json:"parameters"`
	RequestedBy *string            `json:"requested_by,omitempty"`
}

// advance computes the simulated state of a calibration at now.
func advance(c *calibration, created time.Time, now time.Time) {
	elapsed := now.Sub(created)
	switch {
	case elapsed >= calibrationDuration:
		c.Status, c.Progress = "completed", 100
		done := httpapi.Timestamp(created.Add(calibrationDuration))
		c.CompletedAt = &done
	case elapsed >= 5*time.Second:
		c.Status, c.Progress = "in_progress", int(100*elapsed/calibrationDuration)
	default:
		c.Status, c.Progress = "pending", 0
	}
}

var sensorTypes = []string{"tof", "as7341"}

func (a *API) startCalibration(w http.ResponseWriter, r *http.Request) {
	b, err := decodeBody(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	dev, _, err := b.str(100, "device_id", "deviceId")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	st, _, err := b.str(20, "sensor_type", "sensorType")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var items []httpapi.ErrorItem
	if dev == nil || *dev == "" {
		items = append(items, httpapi.Missing("body", "device_id"))
	}
	if st == nil {
		items = append(items, httpapi.Missing("body", "sensor_type"))
	} else if !contains(sensorTypes, *st) {
		items = append(items, httpapi.EnumError(*st, sensorTypes, "body", "sensor_type"))
	}
	if len(items) > 0 {
		a.fail(w, r, &httpapi.ValidationError{Items: items})
		return
	}
	ctx := r.Context()
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// The calibration belongs to the device's organisation; another organisation's
	// device is not found.
	var org string
	err = tx.QueryRow(ctx, `SELECT organization_id::text FROM sqal_devices WHERE device_id = $1`, *dev).Scan(&org)
	if errors.Is(err, pgx.ErrNoRows) {
		a.fail(w, r, notFound("Device"))
		return
	}
	if err != nil {
		a.fail(w, r, fmt.Errorf("find device: %w", err))
		return
	}
	params, _ := json.Marshal(map[string]string{"device_id": *dev, "sensor_type": *st})
	c := calibration{DeviceID: *dev, SensorType: *st, Parameters: params}
	actor := audit.ActorFrom(ctx).Name
	var created time.Time
	err = tx.QueryRow(ctx, `INSERT INTO device_calibrations (device_id, sensor_type, parameters, requested_by, created_at,
		organization_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text, created_at`,
		*dev, *st, params, actor, a.now(), org).Scan(&c.ID, &created)
	if err != nil {
		a.fail(w, r, fmt.Errorf("store calibration: %w", err))
		return
	}
	c.CreatedAt, c.RequestedBy = httpapi.Timestamp(created), &actor
	advance(&c, created, created)
	e := audit.FromRequest(r, audit.ActionCreate, "calibration", c.ID)
	e.Details = fmt.Sprintf("Calibration %s démarrée sur %s", *st, *dev)
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusCreated, c)
}

func (a *API) listCalibrations(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := page(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	rows, err := a.db.Query(r.Context(), `SELECT id::text, device_id, sensor_type, created_at, parameters, requested_by
		FROM device_calibrations
		WHERE ($1 = '' OR device_id = $1) AND ($2 = '' OR sensor_type = $2)
		ORDER BY created_at DESC LIMIT $3 OFFSET $4`, q.Get("device_id"), q.Get("sensor_type"), limit, offset)
	if err != nil {
		a.fail(w, r, fmt.Errorf("list calibrations: %w", err))
		return
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (calibration, error) {
		var c calibration
		var created time.Time
		err := row.Scan(&c.ID, &c.DeviceID, &c.SensorType, &created, &c.Parameters, &c.RequestedBy)
		c.CreatedAt = httpapi.Timestamp(created)
		advance(&c, created, a.now())
		return c, err
	})
	if err != nil {
		a.fail(w, r, fmt.Errorf("list calibrations: %w", err))
		return
	}
	if status := q.Get("status"); status != "" { // computed, so filtered here
		kept := out[:0]
		for _, c := range out {
			if c.Status == status {
				kept = append(kept, c)
			}
		}
		out = kept
	}
	if out == nil {
		out = []calibration{}
	}
	httpapi.JSON(w, http.StatusOK, out)
}
