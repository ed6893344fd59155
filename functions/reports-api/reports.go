package reportsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/httpapi"
)

// Vocabularies of §2.6.
var (
	reportFormats  = []string{"pdf", "excel", "csv", "json"}
	reportStatuses = []string{"pending", "generating", "completed", "failed"}
)

// defaultReportPeriod is the window the Reports page sends (now − 7 days .. now), used
// when a client omits the dates.
const defaultReportPeriod = 7 * 24 * time.Hour

// report is one report as R1 and the detail read it: format and status are never null
// (the page calls .toUpperCase() on format).
type report struct {
	ID           string          `json:"id"`
	Title        string          `json:"title"`
	ReportType   string          `json:"reportType"`
	Format       string          `json:"format"`
	Status       string          `json:"status"`
	FileURL      *string         `json:"fileUrl"`
	FilePath     *string         `json:"filePath"`
	FileName     *string         `json:"fileName"`
	FileSize     *int64          `json:"fileSize"`
	FileHash     *string         `json:"fileHash"`
	RowCount     *int            `json:"rowCount"`
	StartDate    *stamp          `json:"startDate"`
	EndDate      *stamp          `json:"endDate"`
	Parameters   json.RawMessage `json:"parameters"`
	CreatedBy    *string         `json:"createdBy"`
	CreatedAt    stamp           `json:"createdAt"`
	StartedAt    *stamp          `json:"startedAt"`
	CompletedAt  *stamp          `json:"completedAt"`
	ErrorMessage *string         `json:"errorMessage"`
}

const reportColumns = `id, title, report_type, format, status, file_name, file_size, file_hash, row_count,
	start_date, end_date, parameters, created_by, created_at, started_at, completed_at, error_message`

func scanReport(row pgx.Row) (report, error) {
	var rp report
	var id uuid.UUID
	var start, end, started, completed *time.Time
	var created time.Time
	err := row.Scan(&id, &rp.Title, &rp.ReportType, &rp.Format, &rp.Status, &rp.FileName, &rp.FileSize, &rp.FileHash,
		&rp.RowCount, &start, &end, &rp.Parameters, &rp.CreatedBy, &created, &started, &completed, &rp.ErrorMessage)
	if err != nil {
		return report{}, err
	}
	rp.ID = id.String()
	rp.StartDate, rp.EndDate = stampPtr(start), stampPtr(end)
	rp.CreatedAt, rp.StartedAt, rp.CompletedAt = stamp(created), stampPtr(started), stampPtr(completed)
	if rp.Status == "completed" {
		u := "/api/reports/" + rp.ID + "/download/"
		rp.FileURL, rp.FilePath = &u, &u
	}
	return rp, nil
}

// reportRequest is a validated POST /api/reports body.
type reportRequest struct {
	Title      string
	ReportType string
	Format     string
	Start, End time.Time
	Parameters json.RawMessage // object, without the dates
	CreatedBy  string
}

// parseReportRequest reads the body R2 sends ({report_type, title, format, start_date,
// end_date}, snake_case) or the former target's camelCase spelling. now fills the
// default period.
func parseReportRequest(b []byte, now time.Time) (reportRequest, error) {
	f, err := parseFields(b, false)
	if err != nil {
		return reportRequest{}, err
	}
	var rq reportRequest
	rq.ReportType = f.required(100, "report_type", "reportType", "type")
	title := f.str(300, "title")
	format := f.enum(reportFormats, "format")
	start := f.timestamp("start_date", "startDate")
	end := f.timestamp("end_date", "endDate")
	params := f.object("parameters")
	createdBy := f.str(200, "created_by", "createdBy")
	if err := f.err(); err != nil {
		return reportRequest{}, err
	}
	rq.Format = "pdf" // the former target's default
	if format != nil {
		rq.Format = *format
	}
	rq.Title = "Rapport " + rq.ReportType // the page's default title
	if title != nil && *title != "" {
		rq.Title = *title
	}
	if createdBy != nil {
		rq.CreatedBy = *createdBy
	}
	switch {
	case start != nil && end != nil:
		rq.Start, rq.End = *start, *end
	case start != nil:
		rq.Start, rq.End = *start, now
	case end != nil:
		rq.Start, rq.End = end.Add(-defaultReportPeriod), *end
	default:
		rq.Start, rq.End = now.Add(-defaultReportPeriod), now
	}
	if rq.End.Before(rq.Start) {
		return reportRequest{}, &httpapi.ValidationError{Items: []httpapi.ErrorItem{{Type: "value_error",
			Loc: []any{"body", "end_date"}, Msg: "Value error, end_date must not be before start_date",
			Input: rq.End.UTC().Format(time.RFC3339), Ctx: map[string]any{"error": "end_date before start_date"}}}}
	}
	rq.Parameters = params
	if rq.Parameters == nil {
		rq.Parameters = json.RawMessage(`{}`)
	}
	return rq, nil
}

// page is the window of a list: skip/limit (former target) or 1-based page/page_size.
type page struct{ Offset, Size int }

// readPage reads page, page_size, skip and limit; sizes are clamped to 1..500 (§2.0).
func readPage(p *httpapi.ParamSet) page {
	pageNo := p.Query("page").OptInt(httpapi.Ge(1))
	pageSize := p.Query("page_size").OptInt()
	skip := p.Query("skip").Int(0, httpapi.Ge(0))
	limit := p.Query("limit").OptInt()
	size := 50
	switch {
	case pageSize != nil:
		size = *pageSize
	case limit != nil:
		size = *limit
	}
	size = min(max(size, 1), 500)
	if pageNo != nil {
		return page{Offset: (*pageNo - 1) * size, Size: size}
	}
	return page{Offset: skip, Size: size}
}

// listReports serves R1: {reports, total}, newest first; total honours the filters.
func (s *Server) listReports(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	pg := readPage(p)
	status := p.Query("status").OptEnum(reportStatuses...)
	typ := p.Query("report_type").OptString(httpapi.MaxLen(100))
	if !p.Check(w) {
		return
	}
	ctx := r.Context()
	// Reads are where a job orphaned by a dead instance becomes visible: settle it here
	// too, not only when an instance starts.
	if err := s.jobs.failStale(ctx); err != nil {
		s.logger.WarnContext(ctx, "settle stale report jobs", "error", err)
	}
	const where = `($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR report_type = $2)`
	listPage(s, w, r, "reports", `SELECT count(*) FROM reports WHERE `+where,
		`SELECT `+reportColumns+` FROM reports WHERE `+where+` ORDER BY created_at DESC, id DESC`, pg, scanReport, status, typ)
}

// createReport serves R2: stores the request as a pending job, starts it, and answers
// 201 at once with the job (the page only needs a 2xx and refetches R1).
func (s *Server) createReport(w http.ResponseWriter, r *http.Request) {
	rq, reqOrg, ok := readWithOrganization(s, w, r, func(b []byte) (reportRequest, error) { return parseReportRequest(b, s.now()) })
	if !ok {
		return
	}
	if rq.CreatedBy == "" {
		rq.CreatedBy = actor(r)
	}
	ctx := r.Context()
	tx, err := s.db.Begin(ctx)
	if err != nil {
		s.fail(w, r, fmt.Errorf("create report: %w", err))
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	org, err := targetOrganization(ctx, tx, reqOrg)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The dates are kept in parameters too, where the former target stored them.
	rp, err := scanReport(tx.QueryRow(ctx, `INSERT INTO reports (title, report_type, format, start_date, end_date,
		parameters, created_by, created_at, organization_id)
	VALUES ($1, $2, $3, $4, $5, $6::jsonb || jsonb_build_object('start_date', $7::text, 'end_date', $8::text), $9, $10, $11)
	RETURNING `+reportColumns, rq.Title, rq.ReportType, rq.Format, rq.Start, rq.End, rq.Parameters,
		rq.Start.UTC().Format(time.RFC3339Nano), rq.End.UTC().Format(time.RFC3339Nano), rq.CreatedBy, s.now(), org))
	if err != nil {
		s.fail(w, r, fmt.Errorf("create report: %w", err))
		return
	}
	if err := record(ctx, tx, r, audit.ActionCreate, "report", rp.ID,
		fmt.Sprintf("Report %q (%s, %s) requested", rp.Title, rp.ReportType, rp.Format), nil); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := tx.Commit(ctx); err != nil {
		s.fail(w, r, fmt.Errorf("create report: %w", err))
		return
	}
	s.jobs.submit(uuid.MustParse(rp.ID))
	httpapi.JSON(w, http.StatusCreated, withMessage(rp, "Report generation started"))
}

func (s *Server) getReport(w http.ResponseWriter, r *http.Request) {
	getByID(s, w, r, "report_id", "Report", `SELECT `+reportColumns+` FROM reports WHERE id = $1`, scanReport)
}

func (s *Server) deleteReport(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "report_id", "Report")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	tx, err := s.db.Begin(ctx)
	if err != nil {
		s.fail(w, r, fmt.Errorf("delete report: %w", err))
		return
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var title string
	err = tx.QueryRow(ctx, `DELETE FROM reports WHERE id = $1 RETURNING title`, id).Scan(&title)
	if errors.Is(err, pgx.ErrNoRows) {
		err = notFound("Report")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := record(ctx, tx, r, audit.ActionDelete, "report", id.String(), fmt.Sprintf("Report %q deleted", title), nil); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := tx.Commit(ctx); err != nil {
		s.fail(w, r, fmt.Errorf("delete report: %w", err))
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]string{"id": id.String(), "message": "Report deleted successfully"})
}

// downloadReport sends a completed report's file as an attachment.
func (s *Server) downloadReport(w http.ResponseWriter, r *http.Request) {
	if a := r.PathValue("action"); a != "" && a != "download" {
		httpapi.NotFound(w, r) // see muxPatterns
		return
	}
	id, err := pathID(r, "report_id", "Report")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var status string
	var name, contentType, hash *string
	var content []byte
	err = s.db.QueryRow(r.Context(), `SELECT r.status, r.file_name, r.content_type, r.file_hash, f.content
		FROM reports r LEFT JOIN report_files f ON f.report_id = r.id WHERE r.id = $1`, id).
		Scan(&status, &name, &contentType, &hash, &content)
	if errors.Is(err, pgx.ErrNoRows) {
		err = notFound("Report")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if status != "completed" || content == nil || name == nil {
		s.fail(w, r, httpapi.Errorf(http.StatusConflict, "Report is not ready (status: %s)", status))
		return
	}
	ct := "application/octet-stream"
	if contentType != nil {
		ct = *contentType
	}
	sendFile(w, *name, ct, hash, content)
}

// sendFile writes content as an attachment named name.
func sendFile(w http.ResponseWriter, name, contentType string, sha256Hex *string, content []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("Content-Length", strconv.Itoa(len(content)))
	h.Set("X-Content-Type-Options", "nosniff")
	if sha256Hex != nil {
		h.Set("ETag", `"`+*sha256Hex+`"`)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(content)
}

// contentDisposition names an attachment: a plain ASCII filename= (what the dashboard's
// download helper parses) and the RFC 5987 filename*= for names outside ASCII.
func contentDisposition(name string) string {
	ascii := make([]byte, 0, len(name))
	plain := true
	for _, c := range name { // one '_' per character, not per byte
		switch {
		case c == '"' || c == '\\' || c < 0x20 || c >= 0x7f:
			ascii = append(ascii, '_')
			plain = false
		default:
			ascii = append(ascii, byte(c))
		}
	}
	v := `attachment; filename="` + string(ascii) + `"`
	if !plain {
		v += "; filename*=UTF-8''" + urlPathEscape(name)
	}
	return v
}

func urlPathEscape(s string) string {
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(s)*3)
	for _, c := range []byte(s) {
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' {
			out = append(out, c)
			continue
		}
		out = append(out, '%', hex[c>>4], hex[c&15])
	}
	return string(out)
}
