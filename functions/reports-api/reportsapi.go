// Package reportsapi serves the remaining endpoint families of the former target API
// (backend_new) that the legacy SQAL dashboard calls (backend-new-contract §1.2 R1–R2,
// §1.3, §1.4, §2.6, §2.13, §2.14):
//
//   - /api/reports/*         reports with a real generation job (pending -> generating ->
//     completed | failed) producing CSV, JSON, PDF or XLSX from sensor_samples, their
//     download, scheduled reports and templates;
//   - /api/firmware/*        firmware versions (multipart upload hashed with SHA-256, bytes
//     kept) and OTA campaigns (create, list, detail, cancel);
//   - /api/alerts/rules      alert rules persisted in PostgreSQL (the former target kept
//     them in memory), whose condition is checked on write with the grammar the alerts
//     step evaluates (shared/alert.ParseCondition: comparisons joined by and / or, e.g.
//     quality_score < 0.7; anything else is a 422 on body.condition).
//
// Requests are read in snake_case (what the dashboard sends) and camelCase (what the
// former target read); responses are camelCase except the alert rules, whose only
// client reads snake_case. Errors are {"detail", "message"} or FastAPI's 422 list. Both
// spellings of every path, with and without the trailing slash, reach the same handler
// without a redirect, and static segments (scheduled, templates) win over {id}.
//
// Organisations (migration 00060): reports and their files, scheduled reports, OTA
// campaigns and alert rules belong to one organisation. Handlers query in the scope the
// auth middleware put in the request context, so another organisation's row is "not
// found"; what a request creates belongs to the caller's organisation (a super_admin
// names it: targetOrganization). A report is rendered from the samples of its own
// organisation, also when the scheduler (no request) made it. Firmware versions and
// report templates are shared by every organisation.
package reportsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/runtime"
)

// Function is the reports-api function.
var Function = runtime.Function{
	Target:  "ReportsAPI",
	Service: "reports-api",
	Needs:   runtime.Needs{DB: true},
	HTTP:    setup,
}

func init() { runtime.Register(Function) }

// Config is the function's own configuration (the runtime reads the shared server and
// database settings).
type Config struct {
	// MaxConcurrentReports bounds the report jobs one instance generates at once, so a
	// burst of requests cannot take every pooled connection from the API handlers.
	MaxConcurrentReports int `env:"REPORTS_MAX_CONCURRENT, default=2"`
	// MaxReportRows fails a report whose period holds more samples than this, rather
	// than building a file the instance cannot hold in memory.
	MaxReportRows int `env:"REPORTS_MAX_ROWS, default=100000"`
	// GenerationTimeout bounds one job; a job still "generating" after it (its instance
	// died) is marked failed by the next instance that starts.
	GenerationTimeout time.Duration `env:"REPORTS_GENERATION_TIMEOUT, default=2m"`
	// ScheduleInterval is how often an instance looks for scheduled reports that came
	// due.
	ScheduleInterval time.Duration `env:"REPORTS_SCHEDULE_INTERVAL, default=1m"`
	// MaxFirmwareBytes is the upload limit (the dashboard's FILE_SIZE_LIMITS.FIRMWARE).
	MaxFirmwareBytes int64 `env:"FIRMWARE_MAX_BYTES, default=10485760"`
}

func (c Config) validate() error {
	switch {
	case c.MaxConcurrentReports < 1:
		return errors.New("REPORTS_MAX_CONCURRENT must be at least 1")
	case c.MaxReportRows < 1:
		return errors.New("REPORTS_MAX_ROWS must be at least 1")
	case c.GenerationTimeout <= 0:
		return errors.New("REPORTS_GENERATION_TIMEOUT must be positive")
	case c.ScheduleInterval <= 0:
		return errors.New("REPORTS_SCHEDULE_INTERVAL must be positive")
	case c.MaxFirmwareBytes < 1:
		return errors.New("FIRMWARE_MAX_BYTES must be at least 1")
	}
	return nil
}

func setup(ctx context.Context, env *runtime.Env) (http.Handler, error) {
	if env.DB == nil {
		return nil, errors.New("reports-api: database pool required")
	}
	var cfg Config
	if err := config.Load(ctx, env.Lookup, &cfg); err != nil {
		return nil, fmt.Errorf("reports-api: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("reports-api: %w", err)
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := newServer(env.DB, cfg, logger)
	// Jobs outlive their request; none starts once the process context is done
	// (SIGTERM), and what is left unfinished is settled by the next instance.
	s.jobs.stop = ctx
	if err := s.jobs.resume(ctx); err != nil {
		return nil, fmt.Errorf("reports-api: %w", err)
	}
	go s.jobs.scheduleLoop(ctx, cfg.ScheduleInterval)
	return s.routes(), nil
}

// Server holds the dependencies of the handlers.
type Server struct {
	db     *database.DB // every statement in the scope of its context
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	jobs   *jobRunner
}

func newServer(db *database.DB, cfg Config, logger *slog.Logger) *Server {
	s := &Server{db: db, cfg: cfg, logger: logger, now: time.Now}
	s.jobs = newJobRunner(db, cfg, logger, func() time.Time { return s.now() })
	return s
}

// route is one operation of the function; openapi.yaml documents exactly these.
type route struct {
	Method, Path string
	handler      func(*Server, http.ResponseWriter, *http.Request)
}

// routeTable lists every operation by its path without the trailing slash (the router
// serves the slash form too). ServeMux prefers the most specific pattern, so the static
// segments "scheduled" and "templates" win over {report_id} (bn defect §2.20 #7).
func routeTable() []route {
	return []route{
		{"GET", "/api/reports", (*Server).listReports},
		{"POST", "/api/reports", (*Server).createReport},
		{"GET", "/api/reports/{report_id}", (*Server).getReport},
		{"DELETE", "/api/reports/{report_id}", (*Server).deleteReport},
		{"GET", "/api/reports/{report_id}/download", (*Server).downloadReport},

		{"GET", "/api/reports/scheduled", (*Server).listScheduled},
		{"POST", "/api/reports/scheduled", (*Server).createScheduled},
		{"GET", "/api/reports/scheduled/{schedule_id}", (*Server).getScheduled},
		{"PATCH", "/api/reports/scheduled/{schedule_id}", (*Server).patchScheduled},
		{"DELETE", "/api/reports/scheduled/{schedule_id}", (*Server).deleteScheduled},

		{"GET", "/api/reports/templates", (*Server).listTemplates},
		{"POST", "/api/reports/templates", (*Server).createTemplate},
		{"GET", "/api/reports/templates/{template_id}", (*Server).getTemplate},
		{"PATCH", "/api/reports/templates/{template_id}", (*Server).patchTemplate},
		{"DELETE", "/api/reports/templates/{template_id}", (*Server).deleteTemplate},

		{"GET", "/api/firmware/versions", (*Server).listFirmware},
		{"POST", "/api/firmware/versions", (*Server).uploadFirmware},
		{"GET", "/api/firmware/versions/{version_id}", (*Server).getFirmware},
		{"DELETE", "/api/firmware/versions/{version_id}", (*Server).deleteFirmware},
		{"GET", "/api/firmware/versions/{version_id}/download", (*Server).downloadFirmware},

		{"GET", "/api/firmware/ota", (*Server).listOTA},
		{"POST", "/api/firmware/ota", (*Server).createOTA},
		{"GET", "/api/firmware/ota/{update_id}", (*Server).getOTA},
		{"POST", "/api/firmware/ota/{update_id}/cancel", (*Server).cancelOTA},

		{"GET", "/api/alerts/rules", (*Server).listRules},
		{"POST", "/api/alerts/rules", (*Server).createRule},
		{"GET", "/api/alerts/rules/{rule_id}", (*Server).getRule},
		{"PUT", "/api/alerts/rules/{rule_id}", (*Server).updateRule},
		{"DELETE", "/api/alerts/rules/{rule_id}", (*Server).deleteRule},
	}
}

// muxPatterns maps a documented path to the pattern registered with ServeMux where
// the two differ. "/api/reports/{report_id}/download" and
// "/api/reports/scheduled/{schedule_id}" overlap with neither more specific, which
// ServeMux refuses; "/api/reports/{report_id}/{action}" is less specific than the
// scheduled and templates routes, and downloadReport answers 404 for other actions.
var muxPatterns = map[string]string{
	"/api/reports/{report_id}/download": "/api/reports/{report_id}/{action}",
}

func (s *Server) routes() http.Handler {
	rt := httpapi.NewRouter()
	rt.Slash = httpapi.SlashServe // both spellings, no redirect (§0.3)
	for _, r := range routeTable() {
		h := r.handler
		pattern := r.Path
		if p, ok := muxPatterns[r.Path]; ok {
			pattern = p
		}
		rt.HandleFunc(r.Method+" "+pattern, func(w http.ResponseWriter, req *http.Request) { h(s, w, req) })
	}
	return rt
}

// fail answers err: a validation error as FastAPI's 422 list, a client status error
// with its message, anything else as a logged 500 whose cause is not sent. Messages go
// under "detail" and, for the dashboard's error helper, "message".
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *httpapi.ValidationError
	var se *httpapi.StatusError
	switch {
	case errors.As(err, &ve):
		httpapi.Fail(w, r, err)
	case errors.As(err, &se) && se.Status < 500:
		detail(w, se.Status, se.Msg)
	case isRLSViolation(err):
		// A write the row-level security policy refused: a row of another organisation.
		s.logger.WarnContext(r.Context(), "reports-api write outside the caller's organisation refused", "path", r.URL.Path, "error", err)
		detail(w, http.StatusForbidden, errOtherOrganization)
	default:
		s.logger.ErrorContext(r.Context(), "reports-api request failed", "path", r.URL.Path, "error", err)
		detail(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// detail writes {"detail": msg, "message": msg}.
func detail(w http.ResponseWriter, status int, msg string) {
	httpapi.JSON(w, status, map[string]string{"detail": msg, "message": msg})
}

// notFound is the contract's 404 text ("Report not found", "OTA update not found", ...).
func notFound(what string) error { return httpapi.Errorf(http.StatusNotFound, "%s not found", what) }

// pathID reads a uuid path parameter. A malformed id is the same 404 as an unknown one
// (the former target answered 500, §2.20 #7).
func pathID(r *http.Request, name, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue(name))
	if err != nil {
		return uuid.Nil, notFound(what)
	}
	return id, nil
}

// getByID answers the row that query (one $1 uuid parameter) reads for the id in path
// parameter param; "<what> not found" when there is none.
func getByID[T any](s *Server, w http.ResponseWriter, r *http.Request, param, what, query string, scan func(pgx.Row) (T, error)) {
	id, err := pathID(r, param, what)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := scan(s.db.QueryRow(r.Context(), query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = notFound(what)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, v)
}

// listPage answers {key: rows, "total": n}, total counted with the same filters.
// pageSQL ends with its ORDER BY; the page window is appended as the two parameters
// after args.
func listPage[T any](s *Server, w http.ResponseWriter, r *http.Request, key, countSQL, pageSQL string, pg page,
	scan func(pgx.Row) (T, error), args ...any) {
	ctx := r.Context()
	var total int64
	if err := s.db.QueryRow(ctx, countSQL, args...).Scan(&total); err != nil {
		s.fail(w, r, fmt.Errorf("count %s: %w", key, err))
		return
	}
	rows, err := s.db.Query(ctx, pageSQL+fmt.Sprintf(" OFFSET $%d LIMIT $%d", len(args)+1, len(args)+2),
		append(args, pg.Offset, pg.Size)...)
	if err != nil {
		s.fail(w, r, fmt.Errorf("list %s: %w", key, err))
		return
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	if err != nil {
		s.fail(w, r, fmt.Errorf("list %s: %w", key, err))
		return
	}
	if list == nil {
		list = []T{} // [] rather than null: the pages read .length
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{key: list, "total": total})
}

// readInput reads and validates a JSON body with parse; ok is false once the error is
// answered.
func readInput[T any](s *Server, w http.ResponseWriter, r *http.Request, parse func([]byte) (T, error)) (v T, ok bool) {
	b, err := readBody(r)
	if err == nil {
		v, err = parse(b)
	}
	if err != nil {
		s.fail(w, r, err)
		return v, false
	}
	return v, true
}

// lockRow reads the row to update (FOR UPDATE in query), "<what> not found" if none.
func lockRow[T any](ctx context.Context, tx pgx.Tx, query string, id uuid.UUID, what string, scan func(pgx.Row) (T, error)) (T, error) {
	v, err := scan(tx.QueryRow(ctx, query, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, notFound(what)
	}
	if err != nil {
		return v, fmt.Errorf("read %s: %w", strings.ToLower(what), err)
	}
	return v, nil
}

// withMessage is v's JSON object plus "message": creates and updates answer the
// object with the former target's confirmation text (§2.0).
func withMessage(v any, msg string) any {
	b, err := json.Marshal(v)
	var m map[string]json.RawMessage
	if err != nil || json.Unmarshal(b, &m) != nil {
		return v // not an object: sent as it is
	}
	m["message"], _ = json.Marshal(msg)
	return m
}

// record appends the audit row of a change inside its transaction, so a change is
// never stored unaudited.
func record(ctx context.Context, tx audit.Beginner, r *http.Request, action, resource, id, details string, changes any) error {
	e := audit.FromRequest(r, action, resource, id)
	e.Details = details
	e.Changes = changes
	if err := audit.Record(ctx, tx, e); err != nil {
		return fmt.Errorf("audit %s %s: %w", action, resource, err)
	}
	return nil
}

// actor is the name stored in created_by columns.
func actor(r *http.Request) string { return audit.ActorFrom(r.Context()).Name }

// stamp is an outbound time: RFC 3339, UTC, with "Z" (§0.3).
type stamp time.Time

const stampLayout = "2006-01-02T15:04:05.000000Z"

func (t stamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(stampLayout) + `"`), nil
}

// stampPtr converts a nullable column.
func stampPtr(t *time.Time) *stamp {
	if t == nil {
		return nil
	}
	s := stamp(*t)
	return &s
}
