package reportsapi

import (
	"context"
	"encoding/json"
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

var (
	otaStatuses       = []string{"pending", "in_progress", "completed", "failed", "cancelled"}
	rolloutStrategies = []string{"all_at_once", "gradual", "scheduled"}
)

// otaUpdate is one OTA campaign (list and detail; the detail adds logs).
type otaUpdate struct {
	ID                string          `json:"id"`
	Name              string          `json:"name"`
	FirmwareVersionID string          `json:"firmwareVersionId"`
	FirmwareVersion   string          `json:"firmwareVersion"`
	Status            string          `json:"status"`
	TotalDevices      int             `json:"totalDevices"`
	DevicesUpdated    int             `json:"devicesUpdated"`
	DevicesFailed     int             `json:"devicesFailed"`
	TargetDevices     json.RawMessage `json:"targetDevices"`
	TargetDeviceType  *string         `json:"targetDeviceType"`
	RolloutStrategy   string          `json:"rolloutStrategy"`
	RolloutPercentage int             `json:"rolloutPercentage"`
	Notes             *string         `json:"notes"`
	CreatedBy         *string         `json:"createdBy"`
	ScheduledAt       *stamp          `json:"scheduledAt"`
	StartedAt         *stamp          `json:"startedAt"`
	CompletedAt       *stamp          `json:"completedAt"`
	CreatedAt         stamp           `json:"createdAt"`
	UpdatedAt         stamp           `json:"updatedAt"`
	Logs              *[]otaLog       `json:"logs,omitempty"` // detail only: present, possibly empty
}

type otaLog struct {
	DeviceID         string  `json:"deviceId"`
	Status           string  `json:"status"`
	DownloadProgress int     `json:"downloadProgress"`
	InstallProgress  int     `json:"installProgress"`
	PreviousVersion  *string `json:"previousVersion"`
	TargetVersion    string  `json:"targetVersion"`
	ErrorMessage     *string `json:"errorMessage"`
	RetryCount       int     `json:"retryCount"`
	StartedAt        *stamp  `json:"startedAt"`
	CompletedAt      *stamp  `json:"completedAt"`
}

const otaColumns = `u.id, u.name, u.firmware_version_id, v.version, u.status, u.total_devices, u.devices_updated,
	u.devices_failed, u.target_devices, u.target_device_type, u.rollout_strategy, u.rollout_percentage, u.notes,
	u.created_by, u.scheduled_at, u.started_at, u.completed_at, u.created_at, u.updated_at`

const otaFrom = ` FROM ota_updates u JOIN firmware_versions v ON v.id = u.firmware_version_id`

func scanOTA(row pgx.Row) (otaUpdate, error) {
	var o otaUpdate
	var id, fwID uuid.UUID
	var scheduled, started, completed *time.Time
	var created, updated time.Time
	if err := row.Scan(&id, &o.Name, &fwID, &o.FirmwareVersion, &o.Status, &o.TotalDevices, &o.DevicesUpdated,
		&o.DevicesFailed, &o.TargetDevices, &o.TargetDeviceType, &o.RolloutStrategy, &o.RolloutPercentage, &o.Notes,
		&o.CreatedBy, &scheduled, &started, &completed, &created, &updated); err != nil {
		return otaUpdate{}, err
	}
	o.ID, o.FirmwareVersionID = id.String(), fwID.String()
	o.ScheduledAt, o.StartedAt, o.CompletedAt = stampPtr(scheduled), stampPtr(started), stampPtr(completed)
	o.CreatedAt, o.UpdatedAt = stamp(created), stamp(updated)
	return o, nil
}

// otaRequest is a validated POST /api/firmware/ota body.
type otaRequest struct {
	Name              string
	FirmwareVersionID uuid.UUID
	TargetDevices     []string
	TargetDeviceType  *string
	RolloutStrategy   string
	RolloutPercentage int
	Notes             *string
	ScheduledAt       *time.Time
	TargetVersion     *string
}

func parseOTARequest(b []byte) (otaRequest, error) {
	f, err := parseFields(b, false)
	if err != nil {
		return otaRequest{}, err
	}
	var o otaRequest
	o.Name = f.required(200, "name")
	fw := f.required(64, "firmware_version_id", "firmwareVersionId")
	devices := f.strList(1000, 100, "target_devices", "targetDevices")
	o.TargetDeviceType = f.str(100, "target_device_type", "targetDeviceType")
	strategy := f.enum(rolloutStrategies, "rollout_strategy", "rolloutStrategy")
	pct := f.integer(0, 100, "rollout_percentage", "rolloutPercentage")
	o.Notes = f.str(10000, "notes")
	o.ScheduledAt = f.timestamp("scheduled_at", "scheduledAt")
	o.TargetVersion = f.str(50, "target_version", "targetVersion")
	if fw != "" {
		id, err := uuid.Parse(fw)
		if err != nil {
			f.add(httpapi.ErrorItem{Type: "uuid_parsing", Loc: []any{"body", "firmware_version_id"},
				Msg: "Input should be a valid UUID", Input: fw})
		}
		o.FirmwareVersionID = id
	}
	if err := f.err(); err != nil {
		return otaRequest{}, err
	}
	// Duplicates would count a device twice and break the one-log-per-device rule.
	seen := map[string]bool{}
	o.TargetDevices = []string{}
	if devices != nil {
		for _, d := range *devices {
			if d != "" && !seen[d] {
				seen[d] = true
				o.TargetDevices = append(o.TargetDevices, d)
			}
		}
	}
	o.RolloutStrategy = "all_at_once"
	if strategy != nil {
		o.RolloutStrategy = *strategy
	}
	o.RolloutPercentage = 100
	if pct != nil {
		o.RolloutPercentage = *pct
	}
	return o, nil
}

func (s *Server) listOTA(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	pg := readPage(p)
	status := p.Query("status").OptEnum(otaStatuses...)
	if !p.Check(w) {
		return
	}
	listPage(s, w, r, "updates", `SELECT count(*) FROM ota_updates WHERE $1::text IS NULL OR status = $1`,
		`SELECT `+otaColumns+otaFrom+` WHERE $1::text IS NULL OR u.status = $1 ORDER BY u.created_at DESC, u.id DESC`, pg, scanOTA, status)
}

// readOTA reads one campaign with its per-device logs.
func readOTA(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, id uuid.UUID) (otaUpdate, error) {
	o, err := scanOTA(q.QueryRow(ctx, `SELECT `+otaColumns+otaFrom+` WHERE u.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return otaUpdate{}, notFound("OTA update")
	}
	if err != nil {
		return otaUpdate{}, fmt.Errorf("read OTA update: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT device_id, status, download_progress, install_progress, previous_version,
		target_version, error_message, retry_count, started_at, completed_at
	FROM ota_update_logs WHERE ota_update_id = $1 ORDER BY device_id`, id)
	if err != nil {
		return otaUpdate{}, fmt.Errorf("read OTA logs: %w", err)
	}
	logs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (otaLog, error) {
		var l otaLog
		var started, completed *time.Time
		err := row.Scan(&l.DeviceID, &l.Status, &l.DownloadProgress, &l.InstallProgress, &l.PreviousVersion,
			&l.TargetVersion, &l.ErrorMessage, &l.RetryCount, &started, &completed)
		l.StartedAt, l.CompletedAt = stampPtr(started), stampPtr(completed)
		return l, err
	})
	if err != nil {
		return otaUpdate{}, fmt.Errorf("read OTA logs: %w", err)
	}
	if logs == nil {
		logs = []otaLog{}
	}
	o.Logs = &logs
	return o, nil
}

func (s *Server) getOTA(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "update_id", "OTA update")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	o, err := readOTA(r.Context(), s.db, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, o)
}

// createOTA stores a campaign and one pending log per target device. The target
// version defaults to the firmware's own version (the former target failed on its
// NOT NULL column when it was omitted); the previous version is the registry's.
func (s *Server) createOTA(w http.ResponseWriter, r *http.Request) {
	rq, reqOrg, ok := readWithOrganization(s, w, r, parseOTARequest)
	if !ok {
		return
	}
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		// A campaign belongs to one organisation and targets its devices only: a device
		// of another organisation is not found, as on every other route.
		org, err := targetOrganization(ctx, tx, reqOrg)
		if err != nil {
			return 0, nil, err
		}
		var foreign []string
		if err := tx.QueryRow(ctx, `SELECT COALESCE(array_agg(d ORDER BY d), '{}') FROM unnest($1::text[]) AS d
			WHERE NOT EXISTS (SELECT 1 FROM sqal_devices WHERE device_id = d AND organization_id = $2)`,
			rq.TargetDevices, org).Scan(&foreign); err != nil {
			return 0, nil, fmt.Errorf("check OTA target devices: %w", err)
		}
		if len(foreign) > 0 {
			return 0, nil, httpapi.Errorf(http.StatusNotFound, "Device not found: %s", strings.Join(foreign, ", "))
		}
		var fwVersion string
		err = tx.QueryRow(ctx, `SELECT version FROM firmware_versions WHERE id = $1 FOR SHARE`, rq.FirmwareVersionID).Scan(&fwVersion)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, notFound("Firmware version")
		}
		if err != nil {
			return 0, nil, fmt.Errorf("read firmware version: %w", err)
		}
		target := fwVersion
		if rq.TargetVersion != nil && *rq.TargetVersion != "" {
			target = *rq.TargetVersion
		}
		now := s.now()
		var id uuid.UUID
		err = tx.QueryRow(ctx, `INSERT INTO ota_updates (name, firmware_version_id, target_devices, target_device_type,
			scheduled_at, total_devices, rollout_strategy, rollout_percentage, notes, created_by, created_at, updated_at,
			organization_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12) RETURNING id`,
			rq.Name, rq.FirmwareVersionID, rq.TargetDevices, rq.TargetDeviceType, rq.ScheduledAt, len(rq.TargetDevices),
			rq.RolloutStrategy, rq.RolloutPercentage, rq.Notes, actor(r), now, org).Scan(&id)
		if err != nil {
			return 0, nil, fmt.Errorf("store OTA update: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ota_update_logs (ota_update_id, device_id, target_version, previous_version,
			created_at, updated_at, organization_id)
		SELECT $1, d, $2, (SELECT firmware_version FROM sqal_devices WHERE device_id = d), $4, $4, $5
		FROM unnest($3::text[]) AS d`, id, target, rq.TargetDevices, now, org); err != nil {
			return 0, nil, fmt.Errorf("store OTA logs: %w", err)
		}
		o, err := readOTA(ctx, tx, id)
		if err != nil {
			return 0, nil, err
		}
		if err := record(ctx, tx, r, audit.ActionCreate, "ota_update", o.ID,
			fmt.Sprintf("OTA update %q: firmware %s to %d device(s)", o.Name, o.FirmwareVersion, o.TotalDevices), nil); err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, withMessage(o, "OTA update created successfully"), nil
	})
}

// cancelOTA stops a campaign that has not finished; its devices not yet updated are
// marked failed ("Cancelled"). Cancelling twice is harmless; a finished campaign is 409.
func (s *Server) cancelOTA(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "update_id", "OTA update")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM ota_updates WHERE id = $1 FOR UPDATE`, id).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil, notFound("OTA update")
		}
		if err != nil {
			return 0, nil, fmt.Errorf("read OTA update: %w", err)
		}
		switch status {
		case "completed", "failed":
			return 0, nil, httpapi.Errorf(http.StatusConflict, "OTA update already %s", status)
		case "pending", "in_progress":
			now := s.now()
			if _, err := tx.Exec(ctx, `UPDATE ota_updates SET status = 'cancelled', completed_at = $2, updated_at = $2
				WHERE id = $1`, id, now); err != nil {
				return 0, nil, fmt.Errorf("cancel OTA update: %w", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE ota_update_logs SET status = 'failed', error_message = 'Cancelled',
				completed_at = $2, updated_at = $2 WHERE ota_update_id = $1 AND status NOT IN ('completed', 'failed')`, id, now); err != nil {
				return 0, nil, fmt.Errorf("cancel OTA logs: %w", err)
			}
			if err := record(ctx, tx, r, audit.ActionUpdate, "ota_update", id.String(), "cancel",
				map[string]string{"before": status, "after": "cancelled"}); err != nil {
				return 0, nil, err
			}
		}
		o, err := readOTA(ctx, tx, id)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, withMessage(o, "OTA update cancelled successfully"), nil
	})
}
