// Package httpapi holds the HTTP conventions every SQAL function answers with: JSON
// responses, the legacy FastAPI error shapes ({"detail": ...}, the 422 validation list,
// 404/405), application/problem+json for new endpoints, query/path parameter parsing
// with FastAPI's exact error strings, a router that keeps those conventions for
// unknown paths, wrong methods and trailing slashes, and the outbound time format.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// JSON writes v as an application/json response with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// A value that cannot be encoded is a programming error; answer it as such
		// rather than sending half a body.
		slog.Error("encode JSON response", "error", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"detail":"Internal Server Error"}`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Detail writes the legacy FastAPI error body {"detail": msg}.
func Detail(w http.ResponseWriter, status int, msg string) {
	JSON(w, status, map[string]string{"detail": msg})
}

// NotFound answers the legacy 404 {"detail":"Not Found"}.
func NotFound(w http.ResponseWriter, _ *http.Request) {
	Detail(w, http.StatusNotFound, "Not Found")
}

// MethodNotAllowed answers the legacy 405 {"detail":"Method Not Allowed"} with an Allow
// header listing the methods the path accepts.
func MethodNotAllowed(w http.ResponseWriter, allow ...string) {
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
	}
	Detail(w, http.StatusMethodNotAllowed, "Method Not Allowed")
}

// Problem is an RFC 9457 problem document, the error body of new (non-legacy) endpoints.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Errors carries per-field validation failures (same items as the legacy 422).
	Errors []ErrorItem `json:"errors,omitempty"`
}

// WriteProblem writes p as application/problem+json; Type defaults to about:blank and
// Title to the status text.
func WriteProblem(w http.ResponseWriter, p Problem) {
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// ProblemDetail writes a problem document with a status and a human-readable detail.
func ProblemDetail(w http.ResponseWriter, status int, detail string) {
	WriteProblem(w, Problem{Status: status, Detail: detail})
}

// StatusError is an error that carries the HTTP status it should be answered with.
type StatusError struct {
	Status int
	Msg    string
	Err    error // optional cause, logged but never sent
}

func (e *StatusError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return e.Msg
}

func (e *StatusError) Unwrap() error { return e.Err }

// Errorf returns a *StatusError whose message is sent to the client as is.
func Errorf(status int, format string, args ...any) error {
	return &StatusError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// Fail answers err in the legacy shape: a *ValidationError as 422 with its item list,
// a *StatusError with its status and message, anything else as 500 (logged with the
// request context so the trace id is attached; the cause is not sent to the client).
func Fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *ValidationError
	var se *StatusError
	switch {
	case errors.As(err, &ve):
		JSON(w, http.StatusUnprocessableEntity, ve)
	case errors.As(err, &se):
		if se.Status >= 500 {
			slog.ErrorContext(r.Context(), "request failed", "status", se.Status, "error", err)
		}
		Detail(w, se.Status, se.Msg)
	default:
		slog.ErrorContext(r.Context(), "request failed", "error", err)
		Detail(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// FailProblem is Fail for new endpoints: the same mapping, as application/problem+json.
func FailProblem(w http.ResponseWriter, r *http.Request, err error) {
	var ve *ValidationError
	var se *StatusError
	switch {
	case errors.As(err, &ve):
		WriteProblem(w, Problem{Status: http.StatusUnprocessableEntity, Detail: "Request validation failed", Errors: ve.Items})
	case errors.As(err, &se):
		if se.Status >= 500 {
			slog.ErrorContext(r.Context(), "request failed", "status", se.Status, "error", err)
		}
		ProblemDetail(w, se.Status, se.Msg)
	default:
		slog.ErrorContext(r.Context(), "request failed", "error", err)
		ProblemDetail(w, http.StatusInternalServerError, "")
	}
}

// TimeLayout is the outbound datetime format of the contract (§0.1): UTC, microseconds,
// explicit +00:00 offset.
const TimeLayout = "2006-01-02T15:04:05.000000-07:00"

// FormatTime renders t in UTC as YYYY-MM-DDTHH:MM:SS.ffffff+00:00.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Timestamp is a time.Time that marshals as FormatTime (use *Timestamp for nullable
// values: a nil pointer marshals as null).
type Timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(FormatTime(time.Time(t)))), nil
}

// UnmarshalJSON accepts every inbound spelling of §0.1 (see ParseTime).
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Errorf("timestamp: unsupported JSON value %s", b)
	}
	p, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = Timestamp(p)
	return nil
}

// Time returns the underlying time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// TimePtr returns a *Timestamp for t, or nil for a zero or nil time (nullable columns).
func TimePtr(t *time.Time) *Timestamp {
	if t == nil || t.IsZero() {
		return nil
	}
	ts := Timestamp(*t)
	return &ts
}
