package analysisapi

import (
	"net/http"
	"testing"
)

func TestStats(t *testing.T) {
	e := newEnv(t, false)
	seedSamples(t, e.db)
	for _, tc := range []struct{ name, query, want string }{
		// (0.9+0.8+0.65+0.5+0.3+0.7)/6 = 0.641666…; C + REJECT = 2 of 6.
		{"whole history", "", `{"totalAnalyses":6,"averageQuality":0.642,"gradeDistribution":{"A+":1,"A":1,"B":2,"C":1,"REJECT":1},"defectRate":33.33}`},
		// S1, S2, S3: (0.9+0.8+0.65)/3 = 0.78333…
		{"last day", "?start_date=2026-11-26T10:00:00Z", `{"totalAnalyses":3,"averageQuality":0.783,"gradeDistribution":{"A+":1,"A":1,"B":1},"defectRate":0}`},
		{"bounded period", "?start_date=2026-11-20&end_date=2026-11-26", `{"totalAnalyses":2,"averageQuality":0.4,"gradeDistribution":{"C":1,"REJECT":1},"defectRate":100}`},
		{"device", "?device_id=ESP32_MT_01", `{"totalAnalyses":2,"averageQuality":0.575,"gradeDistribution":{"B":1,"C":1},"defectRate":50}`},
		{"grade is not a filter of aggregates", "?grade=B", `{"totalAnalyses":6,"averageQuality":0.642,"gradeDistribution":{"A+":1,"A":1,"B":2,"C":1,"REJECT":1},"defectRate":33.33}`},
		{"empty period", "?start_date=2030-01-01", `{"totalAnalyses":0,"averageQuality":0,"gradeDistribution":{},"defectRate":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertJSON(t, tc.query, e.get(t, "/api/analysis/stats/"+tc.query, http.StatusOK), tc.want)
			assertJSON(t, tc.query, e.get(t, "/api/analysis/stats"+tc.query, http.StatusOK), tc.want)
		})
	}
	assertJSON(t, "bad date", e.get(t, "/api/analysis/stats/?end_date=2026-02-30", http.StatusUnprocessableEntity),
		`{"detail":[{"type":"datetime_from_date_parsing","loc":["query","end_date"],"msg":"Input should be a valid datetime or date, day value is outside expected range","input":"2026-02-30","ctx":{"error":"day value is outside expected range"}}]}`)
}

func TestGradeDistribution(t *testing.T) {
	e := newEnv(t, false)
	assertJSON(t, "empty", e.get(t, "/api/analysis/grade-distribution/", http.StatusOK), `{"distribution":{}}`)
	seedSamples(t, e.db)
	for _, tc := range []struct{ query, want string }{
		{"", `{"distribution":{"A+":1,"A":1,"B":2,"C":1,"REJECT":1}}`},
		{"?start_date=2026-11-25", `{"distribution":{"A+":1,"A":1,"B":1,"C":1}}`},
		{"?device_id=ESP32_LL_01&end_date=2026-11-24", `{"distribution":{"B":1,"REJECT":1}}`},
	} {
		assertJSON(t, tc.query, e.get(t, "/api/analysis/grade-distribution"+tc.query, http.StatusOK), tc.want)
	}
}

func TestTimeseries(t *testing.T) {
	e := newEnv(t, false)
	seedSamples(t, e.db)
	for _, tc := range []struct{ query, want string }{
		{"", `{"timeseries":[
			{"timestamp":"2026-10-18T10:00:00.000000+00:00","qualityScore":0.7,"grade":"B"},
			{"timestamp":"2026-11-24T10:00:00.000000+00:00","qualityScore":0.3,"grade":"REJECT"},
			{"timestamp":"2026-11-26T08:00:00.000000+00:00","qualityScore":0.5,"grade":"C"},
			{"timestamp":"2026-11-27T08:00:00.000000+00:00","qualityScore":0.65,"grade":"B"},
			{"timestamp":"2026-11-27T09:40:00.000000+00:00","qualityScore":0.8,"grade":"A"},
			{"timestamp":"2026-11-27T09:50:00.000000+00:00","qualityScore":0.9,"grade":"A+"}]}`},
		{"?interval=day&start_date=2026-11-27", `{"timeseries":[
			{"timestamp":"2026-11-27T08:00:00.000000+00:00","qualityScore":0.65,"grade":"B"},
			{"timestamp":"2026-11-27T09:40:00.000000+00:00","qualityScore":0.8,"grade":"A"},
			{"timestamp":"2026-11-27T09:50:00.000000+00:00","qualityScore":0.9,"grade":"A+"}]}`},
		// The newest points of the period, still oldest first.
		{"?limit=2", `{"timeseries":[
			{"timestamp":"2026-11-27T09:40:00.000000+00:00","qualityScore":0.8,"grade":"A"},
			{"timestamp":"2026-11-27T09:50:00.000000+00:00","qualityScore":0.9,"grade":"A+"}]}`},
		{"?end_date=2000-01-01", `{"timeseries":[]}`},
	} {
		assertJSON(t, tc.query, e.get(t, "/api/analysis/timeseries/"+tc.query, http.StatusOK), tc.want)
	}
}

func TestTrends(t *testing.T) {
	e := newEnv(t, false)
	seedSamples(t, e.db)
	for _, tc := range []struct{ path, want string }{
		// S1 (09:50, 0.9) and S2 (09:40, 0.8) share the 09:00 bucket.
		{"/api/analysis/trends/ESP32_LL_01", `[{"timestamp":"2026-11-27T09:00:00.000000+00:00","value":0.85,"avg":0.85,"min":0.8,"max":0.9}]`},
		{"/api/analysis/trends/ESP32_LL_01/?time_range=bogus", `[{"timestamp":"2026-11-27T09:00:00.000000+00:00","value":0.85,"avg":0.85,"min":0.8,"max":0.9}]`},
		{"/api/analysis/trends/ESP32_LL_01?time_range=7d", `[
			{"timestamp":"2026-11-24T10:00:00.000000+00:00","value":0.3,"avg":0.3,"min":0.3,"max":0.3},
			{"timestamp":"2026-11-27T09:00:00.000000+00:00","value":0.85,"avg":0.85,"min":0.8,"max":0.9}]`},
		{"/api/analysis/trends/ESP32_LL_01?time_range=30d", `[
			{"timestamp":"2026-11-24T00:00:00.000000+00:00","value":0.3,"avg":0.3,"min":0.3,"max":0.3},
			{"timestamp":"2026-11-27T00:00:00.000000+00:00","value":0.85,"avg":0.85,"min":0.8,"max":0.9}]`},
		// min/max are the metric's own (S2 has no height and is skipped).
		{"/api/analysis/trends/ESP32_LL_01?metric=height", `[{"timestamp":"2026-11-27T09:00:00.000000+00:00","value":50.25,"avg":50.25,"min":50.25,"max":50.25}]`},
		{"/api/analysis/trends/ESP32_LL_01?metric=volume&time_range=1h", `[{"timestamp":"2026-11-27T09:00:00.000000+00:00","value":1000.5,"avg":1000.5,"min":1000.5,"max":1000.5}]`},
		{"/api/analysis/trends/ESP32_LL_01?metric=freshness", `[{"timestamp":"2026-11-27T09:00:00.000000+00:00","value":0.7,"avg":0.7,"min":0.7,"max":0.7}]`},
		{"/api/analysis/trends/ESP32_MT_01?time_range=1h", `[]`},
		{"/api/analysis/trends/nobody", `[]`},
	} {
		assertJSON(t, tc.path, e.get(t, tc.path, http.StatusOK), tc.want)
	}
	assertJSON(t, "bad metric", e.get(t, "/api/analysis/trends/X?metric=weight", http.StatusUnprocessableEntity),
		`{"detail":[{"type":"enum","loc":["query","metric"],"msg":"Input should be 'quality_score', 'volume', 'freshness' or 'height'","input":"weight","ctx":{"expected":"'quality_score', 'volume', 'freshness' or 'height'"}}]}`)
}

func TestCompare(t *testing.T) {
	e := newEnv(t, false)
	seedSamples(t, e.db)
	s1 := `{"sample_id":"S1","timestamp":"2026-11-27T09:50:00.000000+00:00","device_id":"ESP32_LL_01",
		"fusion":{"final_score":0.9,"final_grade":"A+"},"vl53l8ch":{"volume_mm3":1000.5,"avg_height_mm":50.25,"quality_score":0.88},
		"as7341":{"quality_score":0.91,"freshness_index":0.7,"fat_quality_index":0.6}}`
	s3 := `{"sample_id":"S3","timestamp":"2026-11-27T08:00:00.000000+00:00","device_id":"ESP32_MT_01",
		"fusion":{"final_score":0.65,"final_grade":"B"},"vl53l8ch":{"volume_mm3":0,"avg_height_mm":0,"quality_score":0},
		"as7341":{"quality_score":0,"freshness_index":0,"fat_quality_index":0}}`
	// Requested order is kept; unknown ids and duplicates are left out.
	assertJSON(t, "order", e.get(t, "/api/analysis/compare?sample_ids=S3,nope,S1,S3", http.StatusOK), "["+s3+","+s1+"]")
	assertJSON(t, "one", e.get(t, "/api/analysis/compare/?sample_ids=S1", http.StatusOK), "["+s1+"]")
	assertJSON(t, "too many", e.get(t, "/api/analysis/compare?sample_ids=a,b,c,d,e,f", http.StatusBadRequest),
		`{"detail":"Maximum 5 samples for comparison","message":"Maximum 5 samples for comparison"}`)
	assertJSON(t, "missing", e.get(t, "/api/analysis/compare", http.StatusUnprocessableEntity),
		`{"detail":[{"type":"missing","loc":["query","sample_ids"],"msg":"Field required","input":null}]}`)
	assertJSON(t, "empty", e.get(t, "/api/analysis/compare?sample_ids=,", http.StatusOK), `[]`)
}
