package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/sqalfn/sqal/shared/sample"
)

// HTTP uploads (new endpoints, RFC 9457 problem documents for errors):
//
//	POST /api/ingest/samples   body: one frame (object) or a batch (array of frames)
//	  one frame:  201 + ack (saved) | 200 + ack (duplicate) | 400 not JSON |
//	              422 problem naming the field | 429 rate limited | 503 storage failure
//	  a batch:    every item is processed on its own; 200 when every item was saved or
//	              duplicate, 422 when some were invalid (the valid ones are stored),
//	              503 when any hit a storage failure (resend the batch: stored items
//	              then come back "duplicate"); body {"saved","duplicates","errors","results":[…]}
//	POST /api/ingest/events    a CloudEvent of type sqal.sample.upload (binary or
//	              structured mode), data = one frame; answers like a single frame, so
//	              Knative retries 5xx/429 and dead-letters 4xx; a body over
//	              INGEST_READ_LIMIT is 413.

type problemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field is the dotted path of the invalid value (validation failures).
	Field string `json:"field,omitempty"`
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	writeProblem(w, problemDoc{Type: "about:blank", Title: title, Status: status, Detail: detail})
}

func writeProblem(w http.ResponseWriter, p problemDoc) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ItemResult is the outcome of one frame of an upload.
type ItemResult struct {
	Index    int    `json:"index"`
	SampleID string `json:"sample_id,omitempty"`
	Status   string `json:"status"` // saved | duplicate | invalid | forbidden | rate_limited | error
	Error    string `json:"error,omitempty"`
	Field    string `json:"field,omitempty"`
	// FusionScore and FusionGrade as in the WebSocket ack (stored items only).
	FusionScore *float64 `json:"fusion_score,omitempty"`
	FusionGrade string   `json:"fusion_grade,omitempty"`

	status     int // HTTP status this item alone would get
	retryAfter time.Duration
}

// BatchResult is the body of a batch upload.
type BatchResult struct {
	Saved      int          `json:"saved"`
	Duplicates int          `json:"duplicates"`
	Errors     int          `json:"errors"`
	Results    []ItemResult `json:"results"`
}

func (s *Service) serveSamples(w http.ResponseWriter, r *http.Request) {
	key, err := s.auth.authenticate(r.Context(), deviceKey(r, false))
	if err != nil {
		s.httpAuthError(w, r, err)
		return
	}
	device := key.id
	r = r.WithContext(withKeyScope(r.Context(), key))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem(w, http.StatusRequestEntityTooLarge, "Body too large", fmt.Sprintf("upload bodies are limited to %d bytes", mbe.Limit))
			return
		}
		problem(w, http.StatusBadRequest, "Unreadable body", err.Error())
		return
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		s.answerOne(w, s.ingestOne(r.Context(), device, 0, body))
		return
	}
	items, err := splitArray(body)
	if err != nil {
		problem(w, http.StatusBadRequest, "Invalid JSON", err.Error())
		return
	}
	// Validate everything first, then submit all valid items at once so that they are
	// committed as groups, and collect the results in order.
	res := BatchResult{Results: make([]ItemResult, len(items))}
	waits := make([]<-chan Result, len(items))
	pendings := make([]*Pending, len(items))
	for i, it := range items {
		p, ir := s.prepareItem(r.Context(), device, i, it)
		if p == nil {
			res.Results[i] = ir
			continue
		}
		pendings[i] = p
		waits[i] = s.store.Submit(r.Context(), p)
	}
	status := http.StatusOK
	for i, wait := range waits {
		if wait != nil {
			res.Results[i] = itemFromStore(i, pendings[i].Sample, <-wait)
			pendings[i] = nil
		}
		ir := &res.Results[i]
		switch ir.Status {
		case StatusSaved:
			res.Saved++
		case StatusDuplicate:
			res.Duplicates++
		default:
			res.Errors++
			switch {
			case ir.status == http.StatusServiceUnavailable:
				status = http.StatusServiceUnavailable
			case status == http.StatusOK:
				status = ir.status
			}
		}
	}
	writeJSON(w, status, res)
}

// splitArray returns the elements of a JSON array (NaN/Infinity read as null).
func splitArray(body []byte) ([]json.RawMessage, error) {
	var items []json.RawMessage
	err := json.Unmarshal(body, &items)
	if err != nil {
		if clean, changed := sample.ReplaceNonFinite(body); changed {
			items = nil
			err = json.Unmarshal(clean, &items)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	return items, nil
}

// ingestOne validates and stores one frame and returns its result.
func (s *Service) ingestOne(ctx context.Context, device string, i int, frame []byte) ItemResult {
	p, ir := s.prepareItem(ctx, device, i, frame)
	if p == nil {
		return ir
	}
	return itemFromStore(i, p.Sample, s.store.Save(ctx, p))
}

func (s *Service) prepareItem(ctx context.Context, device string, i int, frame []byte) (*Pending, ItemResult) {
	ir := ItemResult{Index: i}
	f, err := sample.Decode(frame)
	if err != nil {
		ir.Status, ir.Error = "invalid", err.Error()
		ir.status = http.StatusBadRequest
		if errors.Is(err, sample.ErrNotObject) {
			ir.status = http.StatusUnprocessableEntity
		}
		return nil, ir
	}
	p, err := s.prepare(ctx, device, f)
	if err != nil {
		var ve *sample.ValidationError
		var rl *RateLimitError
		var dm *deviceMismatchError
		switch {
		case errors.As(err, &ve):
			ir.Status, ir.Error, ir.Field, ir.status = "invalid", err.Error(), ve.Field, http.StatusUnprocessableEntity
		case errors.As(err, &rl):
			ir.Status, ir.Error, ir.status, ir.retryAfter = "rate_limited", err.Error(), http.StatusTooManyRequests, rl.RetryAfter
		case errors.As(err, &dm):
			ir.Status, ir.Error, ir.status = "forbidden", err.Error(), http.StatusForbidden
		case errors.Is(err, ErrStorage): // the device's organisation could not be read
			ir.Status, ir.Error, ir.status = "error", err.Error(), http.StatusServiceUnavailable
		default:
			ir.Status, ir.Error, ir.status = "error", err.Error(), http.StatusInternalServerError
		}
		return nil, ir
	}
	ir.SampleID = p.Sample.SampleID
	return p, ir
}

func itemFromStore(i int, smp *sample.Sample, res Result) ItemResult {
	ir := ItemResult{Index: i, SampleID: smp.SampleID}
	if res.Err != nil {
		ir.Status, ir.Error, ir.status = "error", res.Err.Error(), http.StatusServiceUnavailable
		return ir
	}
	score := smp.Fusion.FinalScore
	ir.Status, ir.FusionScore, ir.FusionGrade = res.Status, &score, smp.Fusion.FinalGrade
	ir.status = http.StatusOK
	if res.Status == StatusSaved {
		ir.status = http.StatusCreated
	}
	return ir
}

// answerOne answers a single-frame upload: the ack on success, a problem otherwise.
func (s *Service) answerOne(w http.ResponseWriter, ir ItemResult) {
	switch ir.Status {
	case StatusSaved, StatusDuplicate:
		writeJSON(w, ir.status, Ack{Type: "ack", SampleID: ir.SampleID, Timestamp: now(), Status: ir.Status,
			FusionScore: *ir.FusionScore, FusionGrade: ir.FusionGrade})
		return
	}
	if ir.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(ir.retryAfter.Round(time.Second)/time.Second))))
	}
	writeProblem(w, problemDoc{Type: "about:blank", Title: http.StatusText(ir.status), Status: ir.status, Detail: ir.Error, Field: ir.Field})
}

func (s *Service) serveEvents(w http.ResponseWriter, r *http.Request) {
	key, err := s.auth.authenticate(r.Context(), deviceKey(r, false))
	if err != nil {
		s.httpAuthError(w, r, err)
		return
	}
	device := key.id
	r = r.WithContext(withKeyScope(r.Context(), key))
	// The SDK reports a read error as an invalid event; the limit is told apart here
	// (declared length, or the reader hitting it) and answered 413, which a Knative
	// sender dead-letters instead of retrying.
	if r.ContentLength > s.cfg.ReadLimit {
		s.eventTooLarge(w, s.cfg.ReadLimit)
		return
	}
	body := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, s.cfg.ReadLimit)}
	r.Body = body
	e, err := cehttp.NewEventFromHTTPRequest(r)
	if body.limit > 0 {
		s.eventTooLarge(w, body.limit)
		return
	}
	if err != nil {
		problem(w, http.StatusBadRequest, "Invalid CloudEvent", err.Error())
		return
	}
	if err := e.Validate(); err != nil {
		problem(w, http.StatusBadRequest, "Invalid CloudEvent", err.Error())
		return
	}
	if e.Type() != sample.TypeUpload {
		problem(w, http.StatusBadRequest, "Unsupported event type",
			fmt.Sprintf("event type %q is not accepted here; send %s", e.Type(), sample.TypeUpload))
		return
	}
	s.answerOne(w, s.ingestOne(r.Context(), device, 0, e.Data()))
}

// eventTooLarge answers 413 naming the limit that was hit: INGEST_READ_LIMIT, or the
// runtime's HTTP_MAX_BODY_BYTES when that one is lower (it wraps the body first).
func (s *Service) eventTooLarge(w http.ResponseWriter, limit int64) {
	setting := "INGEST_READ_LIMIT"
	if limit != s.cfg.ReadLimit {
		setting = "HTTP_MAX_BODY_BYTES"
	}
	problem(w, http.StatusRequestEntityTooLarge, "Body too large",
		fmt.Sprintf("CloudEvent bodies are limited to %d bytes (%s)", limit, setting))
}

// limitedBody records the limit of the first http.MaxBytesReader (its own or one the
// runtime put under it) that refused the body, whatever the reader's caller (the
// CloudEvents SDK) makes of the error.
type limitedBody struct {
	io.ReadCloser
	limit int64 // 0: not hit
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if err != nil && b.limit == 0 && errors.As(err, &mbe) {
		b.limit = mbe.Limit
	}
	return n, err
}
