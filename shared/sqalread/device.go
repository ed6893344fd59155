package sqalread

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// DeviceDB is one quality-control station as the SQAL contract exposes it (§5.2).
type DeviceDB struct {
	DeviceID        string             `json:"device_id"`
	DeviceName      string             `json:"device_name"`
	FirmwareVersion *string            `json:"firmware_version"`
	SiteCode        *string            `json:"site_code"`
	Status          string             `json:"status"`
	ConfigProfile   *string            `json:"config_profile"`
	CreatedAt       *httpapi.Timestamp `json:"created_at"`
	LastSeen        *httpapi.Timestamp `json:"last_seen"`
}

// DeviceColumns is the select list ScanDevice expects. The COALESCEs are the fix of
// the legacy device-name bug (§5.2): a NULL name reads as the id, a NULL status as
// "active", a NULL creation time as last_seen.
const DeviceColumns = `device_id, COALESCE(device_name, device_id), firmware_version, site_code,
 COALESCE(status, 'active'), config_profile, COALESCE(created_at, last_seen), last_seen`

// ScanDevice reads one row selected with DeviceColumns.
func ScanDevice(row pgx.Row) (*DeviceDB, error) {
	var (
		d             DeviceDB
		created, seen *time.Time
	)
	if err := row.Scan(&d.DeviceID, &d.DeviceName, &d.FirmwareVersion, &d.SiteCode,
		&d.Status, &d.ConfigProfile, &created, &seen); err != nil {
		return nil, err
	}
	d.CreatedAt = httpapi.TimePtr(created)
	d.LastSeen = httpapi.TimePtr(seen)
	return &d, nil
}

// ErrNoDevice is returned when no device has the requested id.
var ErrNoDevice = errors.New("no device")

// DeviceByID reads one device, or ErrNoDevice.
func DeviceByID(ctx context.Context, db Querier, deviceID string) (*DeviceDB, error) {
	d, err := ScanDevice(db.QueryRow(ctx, `SELECT `+DeviceColumns+` FROM sqal_devices WHERE device_id = $1`, deviceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoDevice
	}
	if err != nil {
		return nil, fmt.Errorf("read device %s: %w", deviceID, err)
	}
	return d, nil
}
