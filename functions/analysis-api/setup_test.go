package analysisapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/testenv"
)

func TestSetup(t *testing.T) {
	ctx := context.Background()
	if _, err := setup(ctx, &runtime.Env{}); err == nil {
		t.Error("setup without a database pool: no error")
	}
	db := database.NewDB(testenv.DB(t))
	bad := &runtime.Env{DB: db, Lookup: config.MapLookuper(map[string]string{"ANALYSIS_LIVE_CACHE_TTL": "soon"})}
	if _, err := setup(ctx, bad); err == nil {
		t.Error("setup with an invalid duration: no error")
	}
	h, err := setup(ctx, &runtime.Env{DB: db, Redis: testenv.Redis(t),
		Lookup: config.MapLookuper(map[string]string{"ANALYSIS_STATS_CACHE_TTL": "1m", "DEVICE_ONLINE_WINDOW": "2m"})})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/analysis/stats/", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != `{"totalAnalyses":0,"averageQuality":0,"gradeDistribution":{},"defectRate":0}` {
		t.Errorf("stats through setup: %d %s", rec.Code, rec.Body)
	}
}
