package analysisapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/sqalread"
)

func seedAlerts(t *testing.T, e *testEnv) {
	t.Helper()
	alert := func(ago time.Duration, severity string, acked bool) row {
		return row{"time": t0.Add(-ago), "alert_type": "quality", "severity": severity, "title": "quality", "acknowledged": acked}
	}
	insert(t, e.db, "sqal_alerts",
		alert(time.Hour, "critical", false),
		alert(2*time.Hour, "warning", false),
		alert(3*time.Hour, "critical", true),
		alert(30*time.Hour, "critical", false), // older than 24 h
	)
}

func TestDashboardMetrics(t *testing.T) {
	e := newEnv(t, false)
	seedDevices(t, e) // also seeds the samples
	seedAlerts(t, e)
	// Last 24 h: S1, S2, S3 (mean 0.78333…, all compliant); 7 days: S1–S5; 30 days: S1–S5.
	want := `{
	  "stats_24h":{"total_samples":3,"avg_quality_score":0.783,"compliance_rate_pct":100},
	  "grade_distribution_7d":{"A+":1,"A":1,"B":1,"C":1,"REJECT":1},
	  "active_alerts":2,"critical_alerts":1,"total_devices":4,"active_devices":2,
	  "timestamp":"2026-11-27T10:00:00.000000+00:00",
	  "totalSamples":6,"samplesToday":3,"samplesProcessedToday":3,"samplesProcessedWeek":5,"samplesProcessedMonth":5,
	  "successRate":100,"averageQuality":0.783,"activeAlerts":2,"activeDevices":2,"totalDevices":4,
	  "gradeDistribution":{"A+":1,"A":1,"B":1,"C":1,"REJECT":1},"trend":0,"period":"7days"}`
	assertJSON(t, "metrics", e.get(t, "/api/dashboard/metrics/", http.StatusOK), want)
	assertJSON(t, "metrics", e.get(t, "/api/dashboard/metrics", http.StatusOK), want)
}

func TestDashboardMetricsEmpty(t *testing.T) {
	e := newEnv(t, false)
	if _, err := e.db.Exec(context.Background(), `DELETE FROM sqal_devices`); err != nil {
		t.Fatal(err)
	}
	assertJSON(t, "empty", e.get(t, "/api/dashboard/metrics/", http.StatusOK), `{
	  "stats_24h":{"total_samples":0,"avg_quality_score":0,"compliance_rate_pct":0},
	  "grade_distribution_7d":{"A+":0,"A":0,"B":0,"C":0,"REJECT":0},
	  "active_alerts":0,"critical_alerts":0,"total_devices":0,"active_devices":0,
	  "timestamp":"2026-11-27T10:00:00.000000+00:00",
	  "totalSamples":0,"samplesToday":0,"samplesProcessedToday":0,"samplesProcessedWeek":0,"samplesProcessedMonth":0,
	  "successRate":0,"averageQuality":0,"activeAlerts":0,"activeDevices":0,"totalDevices":0,
	  "gradeDistribution":{"A+":0,"A":0,"B":0,"C":0,"REJECT":0},"trend":0,"period":"7days"}`)
}

const emptyBlocks = `{
  "operational":{"conformity_rate":0,"downgrade_rate":0,"reject_rate":0,"control_cadence":0},
  "quality_scores":{"dimensional_conformity":0,"color_conformity":0,"global_quality_score":0},
  "instant_metrics":{"thickness_mm":0,"l_star":0,"delta_e":0,"volume_mm3":0},
  "process_capability":{"cp":0,"cpk":0,"process_capability":"unknown","mean":0,"std":0,"is_centered":false},
  "moving_average":{"moving_avg":0,"moving_avg_10":0,"moving_avg_50":0,"trend":"stable","slope":0},
  "dimensional_deviation":{"deviation_mm":0,"deviation_percent":0,"target_mm":50,"tolerance_mm":5,"is_within_tolerance":false},
  "maturity_index":{"maturity_index":0,"maturity_stage":"unknown","spectral_ratio_red_nir":0},
  "freshness_score":{"freshness_score":0,"freshness_trend":"unknown","estimated_shelf_life_hours":0,"spectral_degradation_rate":0},
  "color_homogeneity":{"color_homogeneity_cv":0,"color_uniformity":"unknown","color_std_delta_e":0,"color_mean_delta_e":0},
  "spectral_bands":{"spectral_bands":{},"spectral_profile":"foie_gras_cru_extra","red_orange_ratio":0,"total_intensity":0},
  "alerts":[],"targets":{"conformity_target":95,"cadence_target":120}}`

func TestFoieGrasMetrics(t *testing.T) {
	e := newEnv(t, false)
	assertJSON(t, "empty", e.get(t, "/api/dashboard/foie-gras-metrics/", http.StatusOK), emptyBlocks)

	seedSamples(t, e.db)
	// W = S1…S6; latest = S1 (thickness 52 mm, L* 58.5, ΔE 3.25 from its stored frame);
	// cadence = S1, S2 (last hour). Channels of S1 differ from the reference only on
	// F7 (100) and NIR (800): d = 100, score 80.
	assertJSON(t, "seeded", e.get(t, "/api/dashboard/foie-gras-metrics", http.StatusOK), `{
	  "operational":{"conformity_rate":83.3,"downgrade_rate":16.7,"reject_rate":16.7,"control_cadence":2},
	  "quality_scores":{"dimensional_conformity":88,"color_conformity":91,"global_quality_score":64.2},
	  "instant_metrics":{"thickness_mm":52,"l_star":58.5,"delta_e":3.25,"volume_mm3":1000.5},
	  "process_capability":{"cp":0,"cpk":0,"process_capability":"unknown","mean":52,"std":0,"is_centered":false},
	  "moving_average":{"moving_avg":52,"moving_avg_10":52,"moving_avg_50":52,"trend":"stable","slope":0},
	  "dimensional_deviation":{"deviation_mm":2,"deviation_percent":4,"target_mm":50,"tolerance_mm":5,"is_within_tolerance":true},
	  "maturity_index":{"maturity_index":2,"maturity_stage":"mature","spectral_ratio_red_nir":2},
	  "freshness_score":{"freshness_score":80,"freshness_trend":"stable","estimated_shelf_life_hours":24,"spectral_degradation_rate":0.1},
	  "color_homogeneity":{"color_homogeneity_cv":0,"color_uniformity":"unknown","color_std_delta_e":0,"color_mean_delta_e":0},
	  "spectral_bands":{"spectral_bands":{"415nm_violet":1200,"445nm_indigo":1500,"480nm_blue":2000,"515nm_cyan":2400,"555nm_green":3100,
	    "590nm_yellow":3700,"630nm_orange":4000,"680nm_red":3800,"nir_850nm":1900},
	    "spectral_profile":"foie_gras_cru_extra","red_orange_ratio":0.95,"total_intensity":23600},
	  "alerts":[],"targets":{"conformity_target":95,"cadence_target":120}}`)
}

func TestFoieGrasAlerts(t *testing.T) {
	e := newEnv(t, false)
	assertJSON(t, "empty", e.get(t, "/api/dashboard/foie-gras-alerts/", http.StatusOK), `[]`)
	seedSamples(t, e.db)
	assertJSON(t, "seeded", e.get(t, "/api/dashboard/foie-gras-alerts", http.StatusOK), `[
	  {"id":"S4","type":"quality","severity":"medium","message":"Échantillon C détecté","timestamp":"2026-11-26T08:00:00.000000+00:00","sample_id":"S4"},
	  {"id":"S5","type":"quality","severity":"high","message":"Échantillon REJECT détecté","timestamp":"2026-11-24T10:00:00.000000+00:00","sample_id":"S5"}]`)
}

// TestCacheInvalidation: aggregates are served from Redis until the data generation
// moves (ingestion bumps it after every stored sample), and computed from the database
// when Redis is gone.
func TestCacheInvalidation(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	seedDevices(t, e) // and the samples
	total := func(path, key string) any {
		t.Helper()
		return e.get(t, path, http.StatusOK).(map[string]any)[key]
	}
	historyTotal := func() any {
		t.Helper()
		return e.get(t, "/api/analysis/history/?limit=1", http.StatusOK).(map[string]any)["pagination"].(map[string]any)["totalItems"]
	}
	if got := historyTotal(); got != 6.0 {
		t.Fatalf("history total: %v, want 6", got)
	}
	for _, c := range []struct{ path, key string }{
		{"/api/analysis/stats/", "totalAnalyses"},
		{"/api/dashboard/metrics/", "totalSamples"},
	} {
		if got := total(c.path, c.key); got != 6.0 {
			t.Fatalf("%s: %v, want 6", c.path, got)
		}
	}
	insert(t, e.db, "sensor_samples", row{"timestamp": t0.Add(-time.Minute), "device_id": "ESP32_LL_01", "sample_id": "S7",
		"fusion_final_grade": "A", "fusion_final_score": 0.8})
	if got := total("/api/analysis/stats/", "totalAnalyses"); got != 6.0 {
		t.Errorf("before the generation moves the cached stats are served: got %v, want 6", got)
	}
	if got := total("/api/analysis/stats/?start_date=2026-01-01", "totalAnalyses"); got != 7.0 {
		t.Errorf("another period is another entry, computed now: got %v, want 7", got)
	}
	if got := historyTotal(); got != 6.0 {
		t.Errorf("history total before the generation moves: %v, want 6", got)
	}
	if err := sqalread.BumpGeneration(ctx, e.rdb); err != nil {
		t.Fatal(err)
	}
	if got := historyTotal(); got != 7.0 {
		t.Errorf("history total after a new generation: %v, want 7", got)
	}
	if got := total("/api/analysis/stats/", "totalAnalyses"); got != 7.0 {
		t.Errorf("after a new generation: got %v, want 7", got)
	}
	if got := total("/api/dashboard/metrics/", "totalSamples"); got != 7.0 {
		t.Errorf("dashboard after a new generation: got %v, want 7", got)
	}

	// A device update of this API invalidates the aggregates at once.
	active := func() any { return total("/api/dashboard/metrics/", "activeDevices") }
	if got := active(); got != 2.0 {
		t.Fatalf("active devices: %v, want 2", got)
	}
	if code, body := e.do(t, http.MethodPatch, "/api/sensors/devices/ESP32_LL_01", `{"status":"maintenance"}`); code != http.StatusOK {
		t.Fatalf("patch: %d %s", code, body)
	}
	if got := active(); got != 1.0 {
		t.Errorf("active devices after an update: %v, want 1", got)
	}

	// Redis gone: still correct, from the database.
	if err := e.rdb.Close(); err != nil {
		t.Fatal(err)
	}
	insert(t, e.db, "sensor_samples", row{"timestamp": t0.Add(-2 * time.Minute), "device_id": "ESP32_LL_01", "sample_id": "S8",
		"fusion_final_grade": "B", "fusion_final_score": 0.7})
	if got := total("/api/analysis/stats/", "totalAnalyses"); got != 8.0 {
		t.Errorf("without Redis: got %v, want 8", got)
	}
	assertJSON(t, "without Redis", e.get(t, "/api/analysis/grade-distribution/", http.StatusOK),
		`{"distribution":{"A+":1,"A":2,"B":3,"C":1,"REJECT":1}}`)
}

// TestFoieGrasFromColumns: the foie-gras values ingest stores as columns are used
// without decoding the frame (and win over it).
func TestFoieGrasFromColumns(t *testing.T) {
	e := newEnv(t, false)
	insert(t, e.db, "sensor_samples", row{"timestamp": t0.Add(-time.Minute), "device_id": "D", "sample_id": "C1",
		"fusion_final_grade": "C", "fusion_final_score": 0.5, "foie_gras_lobe_thickness_mm": 44.0, "foie_gras_delta_e": 9.5,
		"raw_message": rawFrame(99, 99, 99), "raw_message_encoding": "zstd"})
	got := e.get(t, "/api/dashboard/foie-gras-metrics/", http.StatusOK).(map[string]any)
	assertJSON(t, "instant", got["instant_metrics"], `{"thickness_mm":44,"l_star":0,"delta_e":9.5,"volume_mm3":0}`)
	assertJSON(t, "alerts", got["alerts"], `[
	  {"type":"color_deviation","severity":"critical","message":"Déviation couleur critique (ΔE > 8.0)"},
	  {"type":"dimensional","severity":"high","message":"Sous-remplissage détecté (-6.0 mm)"},
	  {"type":"quality","severity":"medium","message":"Grade C détecté"}]`)
}
