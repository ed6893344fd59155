package reportsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// firmware is one firmware version (list and detail: the detail's extra fields cost
// nothing in the list).
type firmware struct {
	ID                 string          `json:"id"`
	Version            string          `json:"version"`
	Major              int             `json:"major"`
	Minor              int             `json:"minor"`
	Patch              int             `json:"patch"`
	Name               string          `json:"name"`
	Description        *string         `json:"description"`
	ReleaseNotes       *string         `json:"releaseNotes"`
	FileName           string          `json:"fileName"`
	FilePath           string          `json:"filePath"`
	FileSize           int64           `json:"fileSize"`
	FileHash           string          `json:"fileHash"`
	Status             string          `json:"status"`
	IsStable           bool            `json:"isStable"`
	CompatibleDevices  json.RawMessage `json:"compatibleDevices"`
	MinRequiredVersion *string         `json:"minRequiredVersion"`
	ReleasedAt         *stamp          `json:"releasedAt"`
	CreatedAt          stamp           `json:"createdAt"`
	UpdatedAt          stamp           `json:"updatedAt"`
}

const firmwareColumns = `id, version, major, minor, patch, name, description, release_notes, file_name, file_size,
	file_hash, status, is_stable, compatible_devices, min_required_version, released_at, created_at, updated_at`

func scanFirmware(row pgx.Row) (firmware, error) {
	var fw firmware
	var id uuid.UUID
	var released *time.Time
	var created, updated time.Time
	if err := row.Scan(&id, &fw.Version, &fw.Major, &fw.Minor, &fw.Patch, &fw.Name, &fw.Description, &fw.ReleaseNotes,
		&fw.FileName, &fw.FileSize, &fw.FileHash, &fw.Status, &fw.IsStable, &fw.CompatibleDevices, &fw.MinRequiredVersion,
		&released, &created, &updated); err != nil {
		return firmware{}, err
	}
	fw.ID = id.String()
	fw.FilePath = "/api/firmware/versions/" + fw.ID + "/download/"
	fw.ReleasedAt, fw.CreatedAt, fw.UpdatedAt = stampPtr(released), stamp(created), stamp(updated)
	return fw, nil
}

// versionPattern is a semantic version, "v" prefix and pre-release/build suffix allowed.
var versionPattern = regexp.MustCompile(`^v?(\d{1,6})\.(\d{1,6})\.(\d{1,6})([-+][0-9A-Za-z.-]{1,40})?$`)

var firmwareStatuses = []string{"draft", "released", "deprecated"}

// firmwareUpload is a validated upload.
type firmwareUpload struct {
	Version             string
	Major, Minor, Patch int
	Name                string
	Description         *string
	ReleaseNotes        *string
	MinRequiredVersion  *string
	Status              string
	IsStable            bool
	CompatibleDevices   []string
	FileName            string
	Content             []byte
	SHA256              string
}

// readFirmwareUpload reads the multipart body the dashboard's uploadVersion sends: the
// image in part "file", the metadata as form fields (query parameters as a fallback:
// the former target read them there, §2.20 #10). The image is hashed while it is read
// and may not exceed maxBytes.
func readFirmwareUpload(r *http.Request, maxBytes int64) (firmwareUpload, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return firmwareUpload{}, &httpapi.ValidationError{Items: []httpapi.ErrorItem{{Type: "missing",
			Loc: []any{"body", "file"}, Msg: "Field required (send multipart/form-data with a \"file\" part)", Input: nil}}}
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	form := map[string]string{}
	var up firmwareUpload
	gotFile := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return firmwareUpload{}, uploadReadError(err)
		}
		name := part.FormName()
		switch {
		case name == "file" && !gotFile:
			gotFile = true
			up.FileName = clean(path.Base(strings.ReplaceAll(part.FileName(), `\`, "/")))
			h := sha256.New()
			var buf bytes.Buffer
			n, err := io.Copy(io.MultiWriter(&buf, h), io.LimitReader(part, maxBytes+1))
			if err != nil {
				return firmwareUpload{}, uploadReadError(err)
			}
			if n > maxBytes {
				return firmwareUpload{}, httpapi.Errorf(http.StatusRequestEntityTooLarge,
					"Firmware file too large (max %d bytes)", maxBytes)
			}
			up.Content, up.SHA256 = buf.Bytes(), hex.EncodeToString(h.Sum(nil))
		case name != "" && name != "file":
			v, err := io.ReadAll(io.LimitReader(part, 64<<10+1))
			if err != nil {
				return firmwareUpload{}, uploadReadError(err)
			}
			if len(v) > 64<<10 {
				return firmwareUpload{}, httpapi.Errorf(http.StatusRequestEntityTooLarge, "Form field %q too large", name)
			}
			if _, seen := form[name]; !seen {
				form[name] = clean(string(v))
			}
		}
		_ = part.Close()
	}
	q := r.URL.Query()
	field := func(names ...string) (string, bool) {
		for _, n := range names {
			if v, ok := form[n]; ok {
				return strings.TrimSpace(v), true
			}
		}
		for _, n := range names {
			if q.Has(n) {
				return strings.TrimSpace(clean(q.Get(n))), true
			}
		}
		return "", false
	}
	var items []httpapi.ErrorItem
	optional := func(maxLen int, names ...string) *string {
		v, ok := field(names...)
		if !ok || v == "" {
			return nil
		}
		if len(v) > maxLen {
			items = append(items, httpapi.CheckLength(v, []any{"body", names[0]}, httpapi.MaxLen(maxLen))...)
			return nil
		}
		return &v
	}
	if !gotFile {
		items = append(items, httpapi.Missing("body", "file"))
	} else if len(up.Content) == 0 {
		items = append(items, httpapi.ErrorItem{Type: "value_error", Loc: []any{"body", "file"},
			Msg: "Value error, the firmware file is empty", Input: up.FileName})
	}
	if up.FileName == "" || up.FileName == "." || up.FileName == "/" {
		up.FileName = "firmware.bin"
	}
	up.FileName = clip(up.FileName, 300)
	version, ok := field("version")
	switch m := versionPattern.FindStringSubmatch(version); {
	case !ok || version == "":
		items = append(items, httpapi.Missing("body", "version"))
	case m == nil:
		items = append(items, httpapi.ErrorItem{Type: "string_pattern_mismatch", Loc: []any{"body", "version"},
			Msg: "String should match pattern 'x.y.z'", Input: clip(version, 100), Ctx: map[string]any{"pattern": versionPattern.String()}})
	default:
		up.Version = strings.TrimPrefix(version, "v")
		up.Major, _ = strconv.Atoi(m[1])
		up.Minor, _ = strconv.Atoi(m[2])
		up.Patch, _ = strconv.Atoi(m[3])
	}
	if n := optional(200, "name"); n != nil {
		up.Name = *n
	} else {
		up.Name = "Firmware " + up.Version
	}
	up.Description = optional(10000, "description")
	up.ReleaseNotes = optional(50000, "release_notes", "releaseNotes")
	up.MinRequiredVersion = optional(50, "min_required_version", "minRequiredVersion")
	up.Status = "draft"
	if v := optional(20, "status"); v != nil {
		if s := strings.ToLower(*v); contains(firmwareStatuses, s) {
			up.Status = s
		} else {
			items = append(items, httpapi.EnumError(*v, firmwareStatuses, "body", "status"))
		}
	}
	if v := optional(10, "is_stable", "isStable"); v != nil {
		b, ok := httpapi.ParseBool(*v)
		if !ok {
			items = append(items, httpapi.BoolParsing(*v, "body", "is_stable"))
		}
		up.IsStable = b
	}
	up.CompatibleDevices = []string{}
	if v := optional(10000, "compatible_devices", "compatibleDevices"); v != nil {
		// A JSON array, or a comma-separated list (what a plain form field holds).
		var list []string
		if json.Unmarshal([]byte(*v), &list) != nil {
			list = strings.Split(*v, ",")
		}
		for _, d := range list {
			if d = strings.TrimSpace(d); d != "" {
				up.CompatibleDevices = append(up.CompatibleDevices, clip(d, 100))
			}
		}
	}
	if len(items) > 0 {
		return firmwareUpload{}, &httpapi.ValidationError{Items: items}
	}
	return up, nil
}

// clean makes a form value storable as PostgreSQL text: valid UTF-8, no NUL.
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

func uploadReadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return httpapi.Errorf(http.StatusRequestEntityTooLarge, "Request body too large")
	}
	return &httpapi.ValidationError{Items: []httpapi.ErrorItem{{Type: "value_error", Loc: []any{"body"},
		Msg: "Value error, malformed multipart body", Input: nil, Ctx: map[string]any{"error": clip(err.Error(), 200)}}}}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) listFirmware(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	pg := readPage(p)
	status := p.Query("status").OptEnum(firmwareStatuses...)
	if !p.Check(w) {
		return
	}
	const where = `($1::text IS NULL OR status = $1)`
	listPage(s, w, r, "versions", `SELECT count(*) FROM firmware_versions WHERE `+where,
		`SELECT `+firmwareColumns+` FROM firmware_versions WHERE `+where+` ORDER BY created_at DESC, id DESC`, pg, scanFirmware, status)
}

// uploadFirmware stores a firmware image with its SHA-256 and size; the bytes are
// kept (the former target threw them away) so that OTA can serve them.
func (s *Server) uploadFirmware(w http.ResponseWriter, r *http.Request) {
	// Room for the multipart envelope and form fields around the image.
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxFirmwareBytes+1<<20)
	up, err := readFirmwareUpload(r, s.cfg.MaxFirmwareBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.change(w, r, func(ctx context.Context, tx pgx.Tx) (int, any, error) {
		now := s.now()
		var released *time.Time
		if up.Status == "released" {
			released = &now
		}
		fw, err := scanFirmware(tx.QueryRow(ctx, `INSERT INTO firmware_versions (version, major, minor, patch, name,
			description, release_notes, file_name, file_size, file_hash, compatible_devices, min_required_version,
			status, is_stable, released_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) RETURNING `+firmwareColumns,
			up.Version, up.Major, up.Minor, up.Patch, up.Name, up.Description, up.ReleaseNotes, up.FileName,
			len(up.Content), up.SHA256, up.CompatibleDevices, up.MinRequiredVersion, up.Status, up.IsStable, released, now))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return 0, nil, httpapi.Errorf(http.StatusConflict, "Firmware version %s already exists", up.Version)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("store firmware version: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO firmware_files (firmware_version_id, content) VALUES ($1, $2)`,
			uuid.MustParse(fw.ID), up.Content); err != nil {
			return 0, nil, fmt.Errorf("store firmware image: %w", err)
		}
		if err := record(ctx, tx, r, audit.ActionCreate, "firmware_version", fw.ID,
			fmt.Sprintf("Firmware %s uploaded (%d bytes, sha256 %s)", fw.Version, fw.FileSize, fw.FileHash), nil); err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, withMessage(fw, "Firmware version uploaded successfully"), nil
	})
}

func (s *Server) getFirmware(w http.ResponseWriter, r *http.Request) {
	getByID(s, w, r, "version_id", "Firmware version", `SELECT `+firmwareColumns+` FROM firmware_versions WHERE id = $1`, scanFirmware)
}

// deleteFirmware deletes a version; one that an OTA campaign references answers 409.
func (s *Server) deleteFirmware(w http.ResponseWriter, r *http.Request) {
	s.deleteRow(w, r, "version_id", "Firmware version", "firmware_versions", "version", "firmware_version",
		"Firmware version deleted successfully")
}

func (s *Server) downloadFirmware(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "version_id", "Firmware version")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var name, hash string
	var content []byte
	err = s.db.QueryRow(r.Context(), `SELECT v.file_name, v.file_hash, f.content FROM firmware_versions v
		JOIN firmware_files f ON f.firmware_version_id = v.id WHERE v.id = $1`, id).Scan(&name, &hash, &content)
	if errors.Is(err, pgx.ErrNoRows) {
		err = notFound("Firmware version")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sendFile(w, name, "application/octet-stream", &hash, content)
}
