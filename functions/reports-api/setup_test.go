package reportsapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/testenv"
)

func TestSetup(t *testing.T) {
	ctx := t.Context() // also stops the schedule loop setup starts
	if _, err := setup(ctx, &runtime.Env{}); err == nil {
		t.Error("setup without a database pool: no error")
	}
	db := database.NewDB(testenv.DB(t))
	for name, env := range map[string]map[string]string{
		"bad duration":  {"REPORTS_GENERATION_TIMEOUT": "soon"},
		"no slot":       {"REPORTS_MAX_CONCURRENT": "0"},
		"no rows":       {"REPORTS_MAX_ROWS": "-1"},
		"no firmware":   {"FIRMWARE_MAX_BYTES": "0"},
		"zero duration": {"REPORTS_GENERATION_TIMEOUT": "0s"},
		"no interval":   {"REPORTS_SCHEDULE_INTERVAL": "0s"},
	} {
		if _, err := setup(ctx, &runtime.Env{DB: db, Lookup: config.MapLookuper(env)}); err == nil {
			t.Errorf("setup with %s: no error", name)
		}
	}
	// Setup settles what a previous instance left: the pending job is generated.
	var id string
	if err := db.QueryRow(ctx, `INSERT INTO reports (title, report_type, format) VALUES ('p', 'daily', 'csv') RETURNING id::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	h, err := setup(ctx, &runtime.Env{DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Lookup: config.MapLookuper(map[string]string{"REPORTS_MAX_CONCURRENT": "1"})})
	if err != nil {
		t.Fatal(err)
	}
	var status string
	for i := 0; i < 200 && status != "completed"; i++ {
		if err := db.QueryRow(ctx, `SELECT status FROM reports WHERE id = $1`, id).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != "completed" {
			waitABit()
		}
	}
	if status != "completed" {
		t.Errorf("pending job after setup: %s", status)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/alerts/rules", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != `[]` {
		t.Errorf("rules through setup: %d %s", rec.Code, rec.Body)
	}
}

func waitABit() { <-time.After(25 * time.Millisecond) }
