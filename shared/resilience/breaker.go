package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// BreakerSettings configure a Breaker. Zero values take bn's defaults (§4.4):
// open after 5 consecutive failures, close after 2 successes in half-open, stay open
// 60 s.
type BreakerSettings struct {
	FailureThreshold uint32
	SuccessThreshold uint32
	OpenTimeout      time.Duration
	// IsFailure decides which errors count against the dependency; nil counts every
	// error except context cancellation by the caller.
	IsFailure func(error) bool
	// OnStateChange is called on every transition (logging).
	OnStateChange func(name, from, to string)
}

// Breaker is a circuit breaker around one dependency.
type Breaker struct {
	name     string
	settings BreakerSettings
	cb       *gobreaker.CircuitBreaker[any]

	mu          sync.Mutex
	openedAt    time.Time
	lastFailure time.Time
}

// NewBreaker returns a closed breaker called name.
func NewBreaker(name string, s BreakerSettings) *Breaker {
	if s.FailureThreshold == 0 {
		s.FailureThreshold = 5
	}
	if s.SuccessThreshold == 0 {
		s.SuccessThreshold = 2
	}
	if s.OpenTimeout <= 0 {
		s.OpenTimeout = 60 * time.Second
	}
	b := &Breaker{name: name, settings: s}
	breakers.Store(name, b)
	isFailure := s.IsFailure
	if isFailure == nil {
		isFailure = func(err error) bool { return !errors.Is(err, context.Canceled) }
	}
	b.cb = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        name,
		MaxRequests: s.SuccessThreshold,
		Timeout:     s.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.FailureThreshold },
		IsSuccessful: func(err error) bool {
			if err != nil && isFailure(err) {
				b.mu.Lock()
				b.lastFailure = time.Now()
				b.mu.Unlock()
				return false
			}
			return true
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			b.mu.Lock()
			if to == gobreaker.StateOpen {
				b.openedAt = time.Now()
			}
			b.mu.Unlock()
			if s.OnStateChange != nil {
				s.OnStateChange(name, stateName(from), stateName(to))
			}
		},
	})
	return b
}

// OpenError is returned without calling the dependency while the breaker is open.
type OpenError struct {
	Name       string
	RetryAfter time.Duration
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("circuit breaker %q is open (retry in %s)", e.Name, e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, gobreaker.ErrOpenState) hold.
func (e *OpenError) Is(target error) bool {
	return target == gobreaker.ErrOpenState || target == gobreaker.ErrTooManyRequests
}

// IsOpen reports whether err was a fast failure from an open (or saturated half-open)
// breaker.
func IsOpen(err error) bool {
	var oe *OpenError
	return errors.As(err, &oe)
}

// Execute runs fn through b.
func Execute[T any](b *Breaker, fn func() (T, error)) (T, error) {
	v, err := b.cb.Execute(func() (any, error) { return fn() })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		var zero T
		return zero, &OpenError{Name: b.name, RetryAfter: b.RetryAfter()}
	}
	t, _ := v.(T)
	return t, err
}

// Do runs fn through b.
func (b *Breaker) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	_, err := Execute(b, func() (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// Name is the breaker's name.
func (b *Breaker) Name() string { return b.name }

// State is "closed", "open" or "half_open".
func (b *Breaker) State() string { return stateName(b.cb.State()) }

// RetryAfter estimates when the breaker lets a trial call through (0 unless open).
func (b *Breaker) RetryAfter() time.Duration {
	if b.cb.State() != gobreaker.StateOpen {
		return time.Second // half-open and saturated: try again shortly
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := b.settings.OpenTimeout - time.Since(b.openedAt); d > 0 {
		return d
	}
	return time.Second
}

// Snapshot is the bn state shape served at /health/circuit-breakers.
func (b *Breaker) Snapshot() map[string]any {
	c := b.cb.Counts()
	b.mu.Lock()
	defer b.mu.Unlock()
	ts := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return httpapi.FormatTime(t)
	}
	opened := ts(b.openedAt)
	if b.cb.State() == gobreaker.StateClosed {
		opened = nil
	}
	return map[string]any{
		"name": b.name, "state": stateName(b.cb.State()),
		"failure_count": c.ConsecutiveFailures, "success_count": c.ConsecutiveSuccesses,
		"failure_threshold": b.settings.FailureThreshold, "success_threshold": b.settings.SuccessThreshold,
		"timeout": b.settings.OpenTimeout.Seconds(), "opened_at": opened, "last_failure": ts(b.lastFailure),
	}
}

// breakers holds every breaker of the process by name (the latest of a name wins),
// for the /health/circuit-breakers view.
var breakers sync.Map

// Snapshots returns the state of every breaker created in this process, by name.
func Snapshots() map[string]any {
	out := map[string]any{}
	breakers.Range(func(k, v any) bool {
		out[k.(string)] = v.(*Breaker).Snapshot()
		return true
	})
	return out
}

func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return "open"
	case gobreaker.StateHalfOpen:
		return "half_open"
	}
	return "closed"
}

// WriteUnavailable answers err with 503 + Retry-After when it is an open-breaker error
// and reports whether it did. Handlers call it first in their error path:
//
//	if resilience.WriteUnavailable(w, err) { return }
func WriteUnavailable(w http.ResponseWriter, err error) bool {
	var oe *OpenError
	if !errors.As(err, &oe) {
		return false
	}
	secs := int(math.Ceil(oe.RetryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	httpapi.Detail(w, http.StatusServiceUnavailable, fmt.Sprintf("Service temporarily unavailable (%s)", oe.Name))
	return true
}

// Guard wraps an HTTP handler with b: while b is open the handler is not called and
// the client gets 503 + Retry-After; a handler answer of 5xx counts as a failure.
func (b *Breaker) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := b.Do(r.Context(), func(ctx context.Context) error {
			sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
			next.ServeHTTP(sw, r)
			if sw.code >= 500 {
				return fmt.Errorf("handler answered %d", sw.code)
			}
			return nil
		})
		WriteUnavailable(w, err)
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int)        { s.code = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
