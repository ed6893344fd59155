package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/config"
)

func TestCheckStatuses(t *testing.T) {
	tests := []struct {
		name       string
		check      Check
		critical   bool
		wantCheck  string
		wantReady  string
		wantLegacy int
	}{
		{"ok", func(context.Context) error { return nil }, true, StatusReady, StatusReady, 200},
		{"critical down", func(context.Context) error { return errors.New("connection refused") }, true, StatusNotReady, StatusNotReady, 503},
		{"cache down", func(context.Context) error { return errors.New("connection refused") }, false, StatusNotReady, StatusDegraded, 200},
		{"timeout", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, true, StatusTimeout, StatusNotReady, 503},
		{"ignores its context", func(context.Context) error { time.Sleep(2 * time.Second); return nil }, false, StatusTimeout, StatusDegraded, 200},
		{"panics", func(context.Context) error { panic("oops") }, true, StatusNotReady, StatusNotReady, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(config.Health{Interval: time.Hour, Timeout: 100 * time.Millisecond}, nil)
			name := "cache"
			if tt.critical {
				name = "database"
			}
			r.Add(name, tt.critical, tt.check)
			r.MarkStarted()
			start := time.Now()
			r.CheckNow(t.Context())
			if time.Since(start) > time.Second {
				t.Errorf("check round took %s", time.Since(start))
			}
			res, _ := r.Result(name)
			if res.Status != tt.wantCheck || r.Readiness() != tt.wantReady {
				t.Errorf("check %s readiness %s, want %s %s (%v)", res.Status, r.Readiness(), tt.wantCheck, tt.wantReady, res.Err)
			}
			rec := httptest.NewRecorder()
			r.Legacy(rec, httptest.NewRequest("GET", "/health", nil))
			if rec.Code != tt.wantLegacy {
				t.Errorf("/health %d %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestProbeShapes(t *testing.T) {
	r := New(config.Health{Interval: time.Hour}, nil)
	r.Add("database", true, func(context.Context) error { return errors.New("password authentication failed") })
	mux := http.NewServeMux()
	r.Mount(mux)
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s: %s", path, rec.Body)
		}
		return rec.Code, m
	}
	tests := []struct {
		step     string
		path     string
		wantCode int
		want     map[string]any
	}{
		{"before start", "/startupz", 503, map[string]any{"status": "starting", "message": "Application is still starting up"}},
		{"before start", "/health/ready", 503, map[string]any{"status": "not_ready", "message": "Application is still starting"}},
		{"before start", "/livez", 200, map[string]any{"status": "healthy", "message": "Application is alive"}},
		{"started", "/health/startup", 200, map[string]any{"status": "started", "message": "Application has successfully started"}},
		{"started", "/readyz", 503, map[string]any{"status": "not_ready", "message": "Some readiness checks failed"}},
		{"started", "/health", 503, map[string]any{"detail": "Database error: password authentication failed"}},
		{"started", "/health/circuit-breakers", 200, map[string]any{}},
		{"shutting down", "/healthz", 503, map[string]any{"status": "unhealthy", "message": "Application is shutting down"}},
		{"shutting down", "/readyz", 503, map[string]any{"status": "not_ready", "message": "Application is shutting down"}},
	}
	for _, tt := range tests {
		switch tt.step {
		case "started":
			r.MarkStarted()
			r.CheckNow(t.Context())
		case "shutting down":
			r.MarkShuttingDown()
		}
		code, body := get(tt.path)
		if code != tt.wantCode {
			t.Errorf("%s %s: %d %v", tt.step, tt.path, code, body)
		}
		for k, v := range tt.want {
			if body[k] != v {
				t.Errorf("%s %s: %s = %v, want %v", tt.step, tt.path, k, body[k], v)
			}
		}
	}
}
