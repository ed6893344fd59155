package adminapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// device is one row of the registry (sqal_devices, upserted by ingest) as the admin
// pages read it (backend-new §2.7, M1).
type device struct {
	ID                string             `json:"id"`
	DeviceID          string             `json:"deviceId"`
	Name              string             `json:"name"`
	Type              string             `json:"type"`
	Status            string             `json:"status"`
	Firmware          *string            `json:"firmware"`
	FirmwareVersion   *string            `json:"firmwareVersion"`
	Location          *string            `json:"location"`
	SiteCode          *string            `json:"siteCode"`
	IPAddress         *string            `json:"ipAddress"`
	MACAddress        *string            `json:"macAddress"`
	TotalMeasurements int64              `json:"totalMeasurements"`
	LastSeen          *httpapi.Timestamp `json:"lastSeen"`
	CreatedAt         *httpapi.Timestamp `json:"createdAt"`
	OrganizationID    string             `json:"organizationId"`
	Notes             *string            `json:"notes,omitempty"`
}

// deviceColumns selects a device; the status is computed: a stored maintenance or
// error wins, otherwise online when last seen within onlineWindow.
const deviceColumns = `d.device_id, COALESCE(d.device_name, d.device_id), COALESCE(d.device_type, 'ESP32'),
	CASE WHEN d.status IN ('maintenance', 'error') THEN d.status
	     WHEN d.last_seen >= $1 THEN 'online' ELSE 'offline' END,
	d.firmware_version, COALESCE(d.metadata->'hello'->>'location', d.site_code), d.site_code,
	d.metadata->'hello'->>'ip_address', d.metadata->'hello'->>'mac_address',
	(SELECT count(*) FROM sensor_samples s WHERE s.device_id = d.device_id),
	d.last_seen, d.created_at, d.organization_id::text, d.notes`

func scanDevice(row pgx.Row) (device, error) {
	var d device
	var lastSeen, created *time.Time
	err := row.Scan(&d.DeviceID, &d.Name, &d.Type, &d.Status, &d.FirmwareVersion, &d.Location, &d.SiteCode,
		&d.IPAddress, &d.MACAddress, &d.TotalMeasurements, &lastSeen, &created, &d.OrganizationID, &d.Notes)
	d.ID, d.Firmware = d.DeviceID, d.FirmwareVersion
	d.LastSeen, d.CreatedAt = httpapi.TimePtr(lastSeen), httpapi.TimePtr(created)
	return d, err
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := page(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	since := a.now().Add(-onlineWindow)
	rows, err := a.db.Query(r.Context(), `SELECT `+deviceColumns+` FROM sqal_devices d
		ORDER BY d.last_seen DESC NULLS LAST, d.device_id LIMIT $2 OFFSET $3`, since, limit, offset)
	if err != nil {
		a.fail(w, r, fmt.Errorf("list devices: %w", err))
		return
	}
	devices := []device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			rows.Close()
			a.fail(w, r, fmt.Errorf("scan device: %w", err))
			return
		}
		devices = append(devices, d)
	}
	if err := rows.Err(); err != nil {
		a.fail(w, r, fmt.Errorf("list devices: %w", err))
		return
	}
	var total, online, offline int64
	err = a.db.QueryRow(r.Context(), `SELECT count(*),
		count(*) FILTER (WHERE status NOT IN ('maintenance', 'error') AND last_seen >= $1),
		count(*) FILTER (WHERE status NOT IN ('maintenance', 'error') AND (last_seen IS NULL OR last_seen < $1))
		FROM (SELECT COALESCE(status, '') AS status, last_seen FROM sqal_devices) d`, since).Scan(&total, &online, &offline)
	if err != nil {
		a.fail(w, r, fmt.Errorf("count devices: %w", err))
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"devices": devices, "total": total, "online": online, "offline": offline})
}

func (a *API) loadDevice(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) (device, error) {
	d, err := scanDevice(q.QueryRow(ctx, `SELECT `+deviceColumns+` FROM sqal_devices d WHERE d.device_id = $2`,
		a.now().Add(-onlineWindow), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return device{}, notFound("Device")
	}
	if err != nil {
		return device{}, fmt.Errorf("load device %s: %w", id, err)
	}
	return d, nil
}

func (a *API) getDevice(w http.ResponseWriter, r *http.Request) {
	d, err := a.loadDevice(r.Context(), a.db, r.PathValue("device_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, d)
}

var deviceStatuses = []string{"active", "inactive", "maintenance", "error", "online", "offline"}

func (a *API) patchDevice(w http.ResponseWriter, r *http.Request) {
	b, err := decodeBody(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type field struct {
		col   string
		names []string
		max   int
	}
	fields := []field{
		{"device_name", []string{"name", "device_name", "deviceName"}, 200},
		{"device_type", []string{"type", "device_type", "deviceType"}, 50},
		{"firmware_version", []string{"firmware", "firmware_version", "firmwareVersion"}, 20},
		{"status", []string{"status"}, 20},
		{"notes", []string{"notes"}, 2000},
		{"organization_id", []string{"organization_id", "organizationId"}, 36},
	}
	sets := []string{}
	args := []any{r.PathValue("device_id")}
	changed := map[string]any{}
	for _, f := range fields {
		v, present, err := b.str(f.max, f.names...)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if !present {
			continue
		}
		switch {
		case f.col == "status" && (v == nil || !contains(deviceStatuses, *v)):
			a.fail(w, r, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.EnumError(v, deviceStatuses, "body", "status")}})
			return
		case f.col == "organization_id":
			if v == nil || uuid.Validate(*v) != nil {
				a.fail(w, r, typeError("organization_id", "organisation id (uuid)", v))
				return
			}
			// Moving a device to another organisation is the super_admin's (403 in an
			// organisation's scope); the target must exist (404).
			org, err := targetOrganization(r.Context(), a.db, v)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			v = &org
		}
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", f.col, len(args)))
		changed[f.col] = v
	}
	ctx := r.Context()
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	before, err := a.loadDevice(ctx, tx, r.PathValue("device_id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(sets) > 0 {
		_, err = tx.Exec(ctx, `UPDATE sqal_devices SET `+strings.Join(sets, ", ")+`, updated_at = now() WHERE device_id = $1`, args...)
		if err != nil {
			if isFKViolation(err) {
				a.fail(w, r, notFound("Organization"))
				return
			}
			a.fail(w, r, fmt.Errorf("update device: %w", err))
			return
		}
	}
	if org, ok := changed["organization_id"].(*string); ok && *org != before.OrganizationID {
		// The device's credentials and calibrations follow it (its samples, alerts and
		// reports stay with the organisation that owned the device when they were made).
		for _, table := range []string{"ingest_device_keys", "device_calibrations"} {
			if _, err := tx.Exec(ctx, `UPDATE `+table+` SET organization_id = $2 WHERE device_id = $1`, before.DeviceID, *org); err != nil {
				a.fail(w, r, fmt.Errorf("move %s of %s: %w", table, before.DeviceID, err))
				return
			}
		}
	}
	after, err := a.loadDevice(ctx, tx, before.DeviceID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e := audit.FromRequest(r, audit.ActionUpdate, "device", before.DeviceID)
	e.Details = "Appareil " + before.DeviceID + " modifié (" + keys(changed) + ")"
	e.Changes = map[string]any{"before": before, "after": changed}
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"message": "Device updated successfully", "device": after})
}

func (a *API) deleteDevice(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("device_id")
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	before, err := a.loadDevice(ctx, tx, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sqal_devices WHERE device_id = $1`, id); err != nil {
		a.fail(w, r, fmt.Errorf("delete device: %w", err))
		return
	}
	// A deleted device must not keep ingesting.
	if _, err := tx.Exec(ctx, `UPDATE ingest_device_keys SET revoked_at = now() WHERE device_id = $1 AND revoked_at IS NULL`, id); err != nil {
		a.fail(w, r, fmt.Errorf("revoke keys of %s: %w", id, err))
		return
	}
	e := audit.FromRequest(r, audit.ActionDelete, "device", id)
	e.Details = "Appareil " + id + " supprimé (clés révoquées)"
	e.Changes = map[string]any{"before": before}
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]string{"message": "Device deleted successfully"})
}

// deviceKey is a credential as listed: never the key itself (only its hash is stored).
type deviceKey struct {
	ID        string             `json:"id"`
	DeviceID  string             `json:"deviceId"`
	Note      *string            `json:"note"`
	CreatedAt httpapi.Timestamp  `json:"createdAt"`
	CreatedBy *string            `json:"createdBy"`
	RevokedAt *httpapi.Timestamp `json:"revokedAt"`
	Active    bool               `json:"active"`
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) {
	// Another organisation's device is not found rather than keyless.
	if _, err := a.loadDevice(r.Context(), a.db, r.PathValue("device_id")); err != nil {
		a.fail(w, r, err)
		return
	}
	rows, err := a.db.Query(r.Context(), `SELECT id::text, device_id, note, created_at, created_by, revoked_at
		FROM ingest_device_keys WHERE device_id = $1 ORDER BY created_at DESC`, r.PathValue("device_id"))
	if err != nil {
		a.fail(w, r, fmt.Errorf("list device keys: %w", err))
		return
	}
	keys := []deviceKey{}
	for rows.Next() {
		var k deviceKey
		var created time.Time
		var revoked *time.Time
		if err := rows.Scan(&k.ID, &k.DeviceID, &k.Note, &created, &k.CreatedBy, &revoked); err != nil {
			rows.Close()
			a.fail(w, r, err)
			return
		}
		k.CreatedAt, k.RevokedAt, k.Active = httpapi.Timestamp(created), httpapi.TimePtr(revoked), revoked == nil
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"keys": keys, "total": len(keys)})
}

// newDeviceKey is 256 random bits, URL-safe: ingest stores its SHA-256 (a fast hash is
// right for server-generated high-entropy keys, see migration 00010).
func newDeviceKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "sqd_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// issueKey creates a credential for a device and returns it once. With
// {"rotate": true} the device's other keys are revoked in the same transaction.
// The device is registered if ingest has not seen it yet (provisioning before the
// first connection), in the caller's organisation (a super_admin names it with
// organization_id, else the default one: targetOrganization). The credential belongs to
// the device's organisation; another organisation's device is not found.
func (a *API) issueKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("device_id")
	if id == "" || len(id) > 100 {
		a.fail(w, r, &httpapi.ValidationError{Items: httpapi.CheckLength(id, []any{"path", "device_id"}, httpapi.MinLen(1), httpapi.MaxLen(100))})
		return
	}
	b, err := decodeBody(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	note, _, err := b.str(200, "note")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rotate, _, err := b.boolean("rotate")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	requestedOrg, _, err := b.str(36, "organization_id", "organizationId")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	key, err := newDeviceKey()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	hash := hashKey(key)
	actor := audit.ActorFrom(r.Context()).Name
	ctx := r.Context()
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	org, err := targetOrganization(ctx, tx, requestedOrg)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := tx.Exec(ctx, `INSERT INTO sqal_devices (device_id, device_name, organization_id) VALUES ($1, $1, $2)
		ON CONFLICT (device_id) DO NOTHING`, id, org); err != nil {
		a.fail(w, r, fmt.Errorf("register device %s: %w", id, err))
		return
	}
	// The device as the caller sees it: a device id another organisation registered
	// conflicts above without being visible here.
	var devOrg string
	err = tx.QueryRow(ctx, `SELECT organization_id::text FROM sqal_devices WHERE device_id = $1`, id).Scan(&devOrg)
	if errors.Is(err, pgx.ErrNoRows) {
		a.fail(w, r, notFound("Device"))
		return
	}
	if err != nil {
		a.fail(w, r, fmt.Errorf("find device %s: %w", id, err))
		return
	}
	if requestedOrg != nil && devOrg != org {
		a.fail(w, r, httpapi.Errorf(http.StatusConflict, "Device %s belongs to organization %s", id, devOrg))
		return
	}
	var revoked int64
	if rotate {
		tag, err := tx.Exec(ctx, `UPDATE ingest_device_keys SET revoked_at = now() WHERE device_id = $1 AND revoked_at IS NULL`, id)
		if err != nil {
			a.fail(w, r, fmt.Errorf("revoke keys of %s: %w", id, err))
			return
		}
		revoked = tag.RowsAffected()
	}
	var keyID string
	var created time.Time
	err = tx.QueryRow(ctx, `INSERT INTO ingest_device_keys (key_hash, device_id, note, created_by, organization_id)
		VALUES ($1, $2, $3, $4, $5) RETURNING id::text, created_at`, hash[:], id, note, actor, devOrg).Scan(&keyID, &created)
	if err != nil {
		a.fail(w, r, fmt.Errorf("store key of %s: %w", id, err))
		return
	}
	e := audit.FromRequest(r, audit.ActionCreate, "device_credential", keyID)
	e.Details = fmt.Sprintf("Clé émise pour l'appareil %s", id)
	if rotate {
		e.Details += fmt.Sprintf(" (rotation : %d clé(s) révoquée(s))", revoked)
	}
	e.Changes = map[string]any{"device_id": id, "key_id": keyID, "rotated": revoked}
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.JSON(w, http.StatusCreated, map[string]any{"id": keyID, "deviceId": id, "key": key,
		"createdAt": httpapi.Timestamp(created), "revoked": revoked,
		"message": "Device key created: store it now, it is not shown again (send it as X-Device-Key)"})
}

func (a *API) revokeKey(w http.ResponseWriter, r *http.Request) {
	dev, keyID := r.PathValue("device_id"), r.PathValue("key_id")
	if uuid.Validate(keyID) != nil {
		a.fail(w, r, notFound("Device key"))
		return
	}
	ctx := r.Context()
	tx, err := a.db.Begin(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	tag, err := tx.Exec(ctx, `UPDATE ingest_device_keys SET revoked_at = COALESCE(revoked_at, now())
		WHERE id = $1 AND device_id = $2`, keyID, dev)
	if err != nil {
		a.fail(w, r, fmt.Errorf("revoke key %s: %w", keyID, err))
		return
	}
	if tag.RowsAffected() == 0 {
		a.fail(w, r, notFound("Device key"))
		return
	}
	e := audit.FromRequest(r, audit.ActionDelete, "device_credential", keyID)
	e.Details = "Clé révoquée pour l'appareil " + dev
	if err := commitAudited(ctx, tx, e); err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]string{"message": "Device key revoked"})
}
