package analysisapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/sample"
)

// The device registry is sqal_devices, which ingestion upserts (sqal-contract §1.7);
// the former target's own devices table was never written (backend-new §2.7).

// device is one registry entry as /api/sensors/devices/ returns it: the former target's
// keys, with the readable device_id as id and a status computed from last_seen.
type device struct {
	ID                string             `json:"id"`
	DeviceID          string             `json:"deviceId"`
	Name              string             `json:"name"`
	Type              string             `json:"type"`
	Status            string             `json:"status"`
	FirmwareVersion   *string            `json:"firmwareVersion"`
	Firmware          *string            `json:"firmware"` // the admin list's name for the same value
	Location          *string            `json:"location"`
	SiteCode          *string            `json:"siteCode"`
	LastSeen          *httpapi.Timestamp `json:"lastSeen"`
	IPAddress         *string            `json:"ipAddress"`
	MACAddress        *string            `json:"macAddress"`
	TotalMeasurements int64              `json:"totalMeasurements"`
	CreatedAt         *httpapi.Timestamp `json:"createdAt"`
}

// deviceColumns reads a device; $1 is the "online since" instant. A stored maintenance
// or error status wins over the computed online/offline (§2.7). The hello frame of the
// device (metadata.hello) supplies what the registry has no column for.
const deviceColumns = `d.device_id, COALESCE(d.device_name, d.device_id), COALESCE(d.device_type, 'ESP32'),
 CASE WHEN d.status IN ('maintenance', 'error') THEN d.status
      WHEN d.last_seen >= $1 THEN 'online' ELSE 'offline' END,
 COALESCE(d.firmware_version, d.metadata->'hello'->>'firmware_version'),
 COALESCE(d.metadata->>'location', d.metadata->'hello'->>'location', d.site_code),
 d.site_code, d.last_seen,
 COALESCE(d.metadata->>'ip_address', d.metadata->'hello'->>'ip_address'),
 COALESCE(d.metadata->>'mac_address', d.metadata->'hello'->>'mac_address'),
 (SELECT count(*) FROM sensor_samples s WHERE s.device_id = d.device_id),
 d.created_at`

func scanDevice(row pgx.Row) (device, error) {
	var d device
	var seen, created *time.Time
	err := row.Scan(&d.ID, &d.Name, &d.Type, &d.Status, &d.FirmwareVersion, &d.Location, &d.SiteCode,
		&seen, &d.IPAddress, &d.MACAddress, &d.TotalMeasurements, &created)
	d.DeviceID, d.Firmware = d.ID, d.FirmwareVersion
	d.LastSeen, d.CreatedAt = httpapi.TimePtr(seen), httpapi.TimePtr(created)
	return d, err
}

func (s *Server) onlineSince() time.Time { return s.now().Add(-s.cfg.DeviceOnlineWindow) }

// devices serves GET /api/sensors/devices/: a page of devices (newest registration
// first) and the counters over all devices.
func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	pg := readPage(p)
	if !p.Check(w) {
		return
	}
	since := s.onlineSince()
	var total, online, offline int64
	if err := s.db.QueryRow(r.Context(), `SELECT count(*),
  count(*) FILTER (WHERE status NOT IN ('maintenance', 'error') AND last_seen >= $1),
  count(*) FILTER (WHERE status NOT IN ('maintenance', 'error') AND (last_seen IS NULL OR last_seen < $1))
FROM (SELECT COALESCE(status, 'active') AS status, last_seen FROM sqal_devices) d`, since).Scan(&total, &online, &offline); err != nil {
		fail(w, r, fmt.Errorf("count devices: %w", err))
		return
	}
	list, err := queryList(r.Context(), s, `SELECT `+deviceColumns+` FROM sqal_devices d
ORDER BY d.created_at DESC NULLS LAST, d.device_id`+fmt.Sprintf(` LIMIT %d OFFSET %d`, pg.Size, pg.Offset),
		[]any{since}, scanDevice)
	if err != nil {
		fail(w, r, fmt.Errorf("list devices: %w", err))
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{
		"devices": list, "total": total, "online": online, "offline": offline,
		"skip": pg.Offset, "limit": pg.Size,
	})
}

// errNoDevice is answered 404 "Device not found" (the former target's text).
var errNoDevice = errors.New("device not found")

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Server) readDevice(ctx context.Context, db rowQuerier, id string) (device, error) {
	d, err := scanDevice(db.QueryRow(ctx, `SELECT `+deviceColumns+` FROM sqal_devices d WHERE d.device_id = $2`,
		s.onlineSince(), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, errNoDevice
	}
	if err != nil {
		return d, fmt.Errorf("read device %q: %w", id, err)
	}
	return d, nil
}

// device serves GET /api/sensors/devices/{device_id}.
func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	d, err := s.readDevice(r.Context(), s.db, r.PathValue("device_id"))
	if errors.Is(err, errNoDevice) {
		detail(w, http.StatusNotFound, "Device not found")
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, d)
}

// deviceField is one updatable attribute: the body keys that name it (the snake_case
// column name and the camelCase name the GETs return), where it is stored, and its
// maximum length.
type deviceField struct {
	keys   []string
	column string // sqal_devices column, or "" when kept in metadata
	meta   string // metadata key when column is ""
	maxLen int
	// def is what a JSON null resets a NOT-NULL-in-spirit column to (SQL expression).
	def string
}

var deviceFields = []deviceField{
	{keys: []string{"name", "device_name", "deviceName"}, column: "device_name", maxLen: 200, def: "device_id"},
	{keys: []string{"type", "device_type", "deviceType"}, column: "device_type", maxLen: 50, def: "'ESP32'"},
	{keys: []string{"firmware_version", "firmwareVersion", "firmware"}, column: "firmware_version", maxLen: 20},
	{keys: []string{"status"}, column: "status", maxLen: 20, def: "'active'"},
	{keys: []string{"site_code", "siteCode"}, column: "site_code", maxLen: 2},
	{keys: []string{"config_profile", "configProfile"}, column: "config_profile", maxLen: 50},
	{keys: []string{"notes"}, column: "notes", maxLen: 10000},
	{keys: []string{"location"}, meta: "location", maxLen: 500},
	{keys: []string{"ip_address", "ipAddress"}, meta: "ip_address", maxLen: 100},
	{keys: []string{"mac_address", "macAddress"}, meta: "mac_address", maxLen: 100},
}

// deviceStatuses are the stored statuses; online/offline are computed, never stored.
var deviceStatuses = []string{"active", "inactive", "maintenance", "error"}

// deviceUpdate is a validated PATCH body: SET clauses and their values.
type deviceUpdate struct {
	sets []string
	args []any
	meta map[string]any // metadata keys to merge (nil value = remove)
}

// parseDeviceUpdate validates a PATCH body. Unknown keys are ignored (as in the former
// target); a known key with a wrong type, length or value is a 422 in FastAPI's shape.
func parseDeviceUpdate(body []byte) (*deviceUpdate, error) {
	var raw map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.Missing("body")}}
	}
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		var v any
		if json.Unmarshal(body, &v) == nil {
			return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{{Type: "model_attributes_type", Loc: []any{"body"},
				Msg: "Input should be a valid dictionary or object to extract fields from", Input: v}}}
		}
		return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{{Type: "json_invalid", Loc: []any{"body", 0},
			Msg: "JSON decode error", Input: map[string]any{}}}}
	}
	u := &deviceUpdate{meta: map[string]any{}}
	var items []httpapi.ErrorItem
	for _, f := range deviceFields {
		var key string
		var val json.RawMessage
		for _, k := range f.keys {
			if v, ok := raw[k]; ok {
				key, val = k, v
				break
			}
		}
		if key == "" {
			continue
		}
		loc := []any{"body", key}
		var sv *string
		if err := json.Unmarshal(val, &sv); err != nil {
			var input any
			_ = json.Unmarshal(val, &input)
			items = append(items, httpapi.ErrorItem{Type: "string_type", Loc: loc, Msg: "Input should be a valid string", Input: input})
			continue
		}
		if sv != nil {
			v := strings.TrimSpace(*sv)
			sv = &v
			if bad := httpapi.CheckLength(v, loc, httpapi.MaxLen(f.maxLen)); bad != nil {
				items = append(items, bad...)
				continue
			}
			switch {
			case f.column == "status" && !contains(deviceStatuses, v):
				items = append(items, httpapi.EnumError(v, deviceStatuses, loc...))
				continue
			case f.column == "site_code" && !sample.IsKnownSite(v):
				items = append(items, httpapi.EnumError(v, sample.KnownSites[:], loc...))
				continue
			}
		}
		if f.column == "" {
			if sv == nil {
				u.meta[f.meta] = nil
			} else {
				u.meta[f.meta] = *sv
			}
			continue
		}
		if sv == nil && f.def != "" {
			u.sets = append(u.sets, f.column+" = "+f.def)
			continue
		}
		u.args = append(u.args, sv)
		u.sets = append(u.sets, fmt.Sprintf("%s = $%d", f.column, len(u.args)+1)) // $1 is the device id
	}
	if len(items) > 0 {
		return nil, &httpapi.ValidationError{Items: items}
	}
	return u, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// updateDevice serves PATCH /api/sensors/devices/{device_id}: accepts the snake_case
// column names and the camelCase names the GET returns; answers the updated device.
// The transaction runs in the request's organisation scope: another organisation's
// device is not found (404) and nothing is written.
func (s *Server) updateDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("device_id")
	var body bytes.Buffer
	if _, err := body.ReadFrom(r.Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			detail(w, http.StatusRequestEntityTooLarge, "Request body too large")
			return
		}
		fail(w, r, &httpapi.StatusError{Status: http.StatusBadRequest, Msg: "Could not read request body", Err: err})
		return
	}
	u, err := parseDeviceUpdate(body.Bytes())
	if err != nil {
		fail(w, r, err)
		return
	}
	sets := append([]string{"updated_at = now()"}, u.sets...)
	args := append([]any{id}, u.args...)
	if len(u.meta) > 0 {
		var add []string
		var remove []string
		for k, v := range u.meta {
			if v == nil {
				remove = append(remove, k)
				continue
			}
			args = append(args, k, v)
			add = append(add, fmt.Sprintf("$%d::text, $%d::text", len(args)-1, len(args)))
		}
		expr := "COALESCE(metadata, '{}'::jsonb)"
		for _, k := range remove {
			args = append(args, k)
			expr = fmt.Sprintf("(%s - $%d::text)", expr, len(args))
		}
		if len(add) > 0 {
			expr = fmt.Sprintf("%s || jsonb_build_object(%s)", expr, strings.Join(add, ", "))
		}
		sets = append(sets, "metadata = "+expr)
	}

	// The change and its audit row commit together (backend-new §3.6: update/device).
	ctx := r.Context()
	tx, err := s.db.Begin(ctx)
	if err != nil {
		fail(w, r, fmt.Errorf("update device %q: %w", id, err))
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// Lock the row first so that "before" is what this update changes.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM sqal_devices WHERE device_id = $1 FOR UPDATE`, id); err != nil {
		fail(w, r, fmt.Errorf("lock device %q: %w", id, err))
		return
	}
	before, err := s.readDevice(ctx, tx, id)
	if errors.Is(err, errNoDevice) {
		detail(w, http.StatusNotFound, "Device not found")
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	if _, err := tx.Exec(ctx, `UPDATE sqal_devices SET `+strings.Join(sets, ", ")+` WHERE device_id = $1`, args...); err != nil {
		fail(w, r, fmt.Errorf("update device %q: %w", id, err))
		return
	}
	after, err := s.readDevice(ctx, tx, id)
	if err != nil {
		fail(w, r, err)
		return
	}
	e := audit.FromRequest(r, audit.ActionUpdate, "device", id)
	e.Details = "Device updated"
	e.Changes = map[string]device{"before": before, "after": after}
	if err := audit.Record(ctx, tx, e); err != nil {
		fail(w, r, fmt.Errorf("update device %q: %w", id, err))
		return
	}
	if err := tx.Commit(ctx); err != nil {
		fail(w, r, fmt.Errorf("update device %q: commit: %w", id, err))
		return
	}
	// Device counters are part of cached aggregates (dashboard metrics, overview).
	s.cache.invalidate(ctx)
	httpapi.JSON(w, http.StatusOK, after)
}
