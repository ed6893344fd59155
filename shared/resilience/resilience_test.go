package resilience

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

var errBoom = errors.New("boom")

func TestRetry(t *testing.T) {
	fast := Policy{InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond}
	tests := []struct {
		name      string
		policy    Policy
		failures  int   // calls that fail before success
		failWith  error // error returned by failing calls
		wantCalls int
		wantErr   error
	}{
		{"succeeds on third attempt", fast, 2, errBoom, 3, nil},
		{"gives up after max attempts", fast, 10, errBoom, 4, errBoom},
		{"permanent stops at once", fast, 10, Permanent(errBoom), 1, errBoom},
		{"not retryable", Policy{InitialInterval: time.Millisecond, Retryable: func(error) bool { return false }}, 10, errBoom, 1, errBoom},
		{"open breaker not retried", fast, 10, &OpenError{Name: "db"}, 1, &OpenError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			v, err := Retry(t.Context(), tt.policy, func(ctx context.Context) (int, error) {
				calls++
				if calls <= tt.failures {
					return 0, tt.failWith
				}
				return 42, nil
			})
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			switch {
			case tt.wantErr == nil && (err != nil || v != 42):
				t.Errorf("got %v, %v", v, err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr) && !(IsOpen(tt.wantErr) && IsOpen(err)):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestRetryHonoursContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Do(ctx, Policy{InitialInterval: 10 * time.Second, MaxAttempts: 10}, func(context.Context) error { return errBoom })
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("retry ignored context: %v after %s", err, time.Since(start))
	}
}

func TestBreakerOpensAndRecovers(t *testing.T) {
	b := NewBreaker("database", BreakerSettings{FailureThreshold: 3, SuccessThreshold: 2, OpenTimeout: 200 * time.Millisecond})
	calls := 0
	failing := func(context.Context) error { calls++; return errBoom }
	for i := 0; i < 3; i++ {
		if err := b.Do(t.Context(), failing); !errors.Is(err, errBoom) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if b.State() != "open" {
		t.Fatalf("state %s after 3 failures", b.State())
	}
	err := b.Do(t.Context(), failing)
	if !IsOpen(err) || calls != 3 {
		t.Fatalf("4th call: err %v, calls %d (want fast fail without invoking)", err, calls)
	}
	if all := Snapshots(); all["database"] == nil || all["database"].(map[string]any)["state"] != "open" {
		t.Errorf("process snapshot %v", all)
	}
	snap := b.Snapshot()
	if snap["state"] != "open" || snap["opened_at"] == nil || snap["failure_threshold"] != uint32(3) {
		t.Errorf("snapshot %v", snap)
	}
	time.Sleep(250 * time.Millisecond)
	ok := func(context.Context) error { return nil }
	for i := 0; i < 2; i++ {
		if err := b.Do(t.Context(), ok); err != nil {
			t.Fatalf("half-open call %d: %v", i, err)
		}
	}
	if b.State() != "closed" {
		t.Fatalf("state %s after 2 half-open successes", b.State())
	}
}

func TestBreakerHTTP(t *testing.T) {
	b := NewBreaker("cache", BreakerSettings{FailureThreshold: 2, OpenTimeout: 30 * time.Second})
	invoked := 0
	h := b.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		invoked++
		http.Error(w, "db down", http.StatusInternalServerError)
	}))
	codes := []int{}
	var last *httptest.ResponseRecorder
	for i := 0; i < 4; i++ {
		last = httptest.NewRecorder()
		h.ServeHTTP(last, httptest.NewRequest("GET", "/", nil))
		codes = append(codes, last.Code)
	}
	if invoked != 2 || codes[2] != 503 || codes[3] != 503 {
		t.Fatalf("codes %v, invoked %d", codes, invoked)
	}
	ra, err := strconv.Atoi(last.Header().Get("Retry-After"))
	if err != nil || ra < 1 || ra > 30 {
		t.Errorf("Retry-After %q", last.Header().Get("Retry-After"))
	}
	if last.Body.String() != `{"detail":"Service temporarily unavailable (cache)"}` {
		t.Errorf("body %s", last.Body)
	}
	// WriteUnavailable leaves other errors alone.
	if WriteUnavailable(httptest.NewRecorder(), errBoom) {
		t.Error("plain error answered as open breaker")
	}
}
