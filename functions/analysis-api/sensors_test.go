package analysisapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestSensorReads(t *testing.T) {
	e := newEnv(t, false)
	seedSamples(t, e.db)

	var zones []string
	for i := 1; i <= 64; i++ {
		zones = append(zones, fmt.Sprint(i))
	}
	tofRaw1 := `{"id":"` + uuid1 + `","sample_id":"S1","device_id":"ESP32_LL_01","timestamp":"2026-11-27T09:50:00.000000+00:00",
		"distances":[` + strings.Join(zones, ",") + `],"distance_matrix":` + distance1() + `,"reflectance_matrix":[[5]],"amplitude_matrix":[[7]]}`
	tofAnalysis := func(id, ts, dev, sid string) string {
		return fmt.Sprintf(`{"id":%q,"sample_id":%q,"device_id":%q,"timestamp":%q,"grade":null,"quality_score":null,"volume_mm3":null,
			"average_height_mm":null,"max_height_mm":null,"min_height_mm":null,"surface_uniformity":null,"defects":[]}`, id, sid, dev, ts)
	}
	tofAnalysis1 := `{"id":"` + uuid1 + `","sample_id":"S1","device_id":"ESP32_LL_01","timestamp":"2026-11-27T09:50:00.000000+00:00",
		"grade":"A+","quality_score":0.88,"volume_mm3":1000.5,"average_height_mm":50.25,"max_height_mm":60,"min_height_mm":40,
		"surface_uniformity":0.8,"defects":["trou"]}`
	tofAnalysis2 := `{"id":"` + uuid2 + `","sample_id":"S2","device_id":"ESP32_LL_01","timestamp":"2026-11-27T09:40:00.000000+00:00",
		"grade":null,"quality_score":0.7,"volume_mm3":null,"average_height_mm":null,"max_height_mm":null,"min_height_mm":null,
		"surface_uniformity":null,"defects":[]}`
	spectralRaw1 := `{"id":"` + uuid1 + `","sample_id":"S1","device_id":"ESP32_LL_01","timestamp":"2026-11-27T09:50:00.000000+00:00",
		"channels":` + channels1 + `,"integration_time":100,"gain":64}`
	spectralAnalysis1 := `{"id":"` + uuid1 + `","sample_id":"S1","device_id":"ESP32_LL_01","timestamp":"2026-11-27T09:50:00.000000+00:00",
		"grade":"A","quality_score":0.91,"freshness_index":0.7,"fat_quality_index":0.6,"oxidation_index":0.2,"color_uniformity":0.85,"defects":["tache"]}`
	spectralAnalysis3 := `{"id":"` + uuid3 + `","sample_id":"S3","device_id":"ESP32_MT_01","timestamp":"2026-11-27T08:00:00.000000+00:00",
		"grade":null,"quality_score":null,"freshness_index":null,"fat_quality_index":null,"oxidation_index":null,"color_uniformity":null,"defects":[]}`
	fusion1 := `{"id":"` + uuid1 + `","time":"2026-11-27T09:50:00.000000+00:00","deviceId":"ESP32_LL_01","sampleId":"S1","grade":"A+",
		"qualityScore":0.9,"vl53l8chScore":0.87,"as7341Score":0.93,"defects":[{"type":"bile"}],"numDefects":1}`
	fusion2 := `{"id":"` + uuid2 + `","time":"2026-11-27T09:40:00.000000+00:00","deviceId":"ESP32_LL_01","sampleId":"S2","grade":"A",
		"qualityScore":0.8,"vl53l8chScore":0.7,"as7341Score":null,"defects":[{"a":1},{"b":2},{"c":3}],"numDefects":3}`
	fusion3 := `{"id":"` + uuid3 + `","time":"2026-11-27T08:00:00.000000+00:00","deviceId":"ESP32_MT_01","sampleId":"S3","grade":"B",
		"qualityScore":0.65,"vl53l8chScore":null,"as7341Score":null,"defects":[],"numDefects":0}`

	for _, tc := range []struct{ path, want string }{
		{"/api/sensors/vl53l8ch/raw/", `{"results":[` + tofRaw1 + `],"total":1,"skip":0,"limit":50}`},
		{"/api/sensors/vl53l8ch/raw?device_id=ESP32_MT_01", `{"results":[],"total":0,"skip":0,"limit":50}`},
		{"/api/sensors/vl53l8ch/analysis/?limit=2", `{"data":[` + tofAnalysis1 + `,` + tofAnalysis2 + `],"total":6,"skip":0,"limit":2}`},
		{"/api/sensors/vl53l8ch/analysis?device_id=ESP32_MT_01&skip=1", `{"data":[` +
			tofAnalysis(uuid4, "2026-11-26T08:00:00.000000+00:00", "ESP32_MT_01", "S4") + `],"total":2,"skip":1,"limit":50}`},
		{"/api/sensors/as7341/raw/", `{"data":[` + spectralRaw1 + `],"total":1,"skip":0,"limit":50}`},
		{"/api/sensors/as7341/analysis?page=3&page_size=1", `{"data":[` + spectralAnalysis3 + `],"total":6,"skip":2,"limit":1}`},
		{"/api/sensors/as7341/analysis/?grade=A%2B&limit=1", `{"data":[` + spectralAnalysis1 + `],"total":1,"skip":0,"limit":1}`},
		{"/api/sensors/fusion/?limit=3", `{"results":[` + fusion1 + `,` + fusion2 + `,` + fusion3 + `],"total":6,"skip":0,"limit":3}`},
		{"/api/sensors/fusion?start_date=2026-11-27T09:45:00Z", `{"results":[` + fusion1 + `],"total":1,"skip":0,"limit":50}`},
	} {
		assertJSON(t, tc.path, e.get(t, tc.path, http.StatusOK), tc.want)
	}
	assertJSON(t, "bad skip", e.get(t, "/api/sensors/fusion/?skip=x", http.StatusUnprocessableEntity),
		`{"detail":[{"type":"int_parsing","loc":["query","skip"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"x"}]}`)
}

func TestFlatten(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`[[1,2],[3]]`, `[1,2,3]`},
		{`[]`, `[]`},
		{`null`, `[]`},
		{`{"a":1}`, `[]`},
		{`[1,2]`, `[]`},
		{``, `[]`},
	} {
		got := flatten([]byte(tc.in))
		var parts []string
		for _, p := range got {
			parts = append(parts, string(p))
		}
		if s := "[" + strings.Join(parts, ",") + "]"; s != tc.want {
			t.Errorf("flatten(%s) = %s, want %s", tc.in, s, tc.want)
		}
	}
}

func FuzzFlatten(f *testing.F) {
	f.Add([]byte(`[[1,2],[3]]`))
	f.Add([]byte(`[[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := flatten(b)
		if out == nil {
			t.Fatal("flatten returned nil")
		}
	})
}
