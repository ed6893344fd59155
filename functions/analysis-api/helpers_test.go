package analysisapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/testenv"
)

// t0 is "now" in every test: the seeded samples are placed relative to it.
var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

var testConfig = Config{StatsCacheTTL: 5 * time.Minute, LiveCacheTTL: 10 * time.Second, DeviceOnlineWindow: 90 * time.Second}

type testEnv struct {
	db  *pgxpool.Pool
	rdb *redis.Client
	srv *Server
	h   http.Handler
}

// newEnv returns a server on a fresh migrated database and its own Redis, with the
// clock fixed at t0. withRedis=false runs without a cache.
func newEnv(t *testing.T, withRedis bool) *testEnv {
	t.Helper()
	return newEnvWith(t, withRedis)
}

// newEnvTB is newEnv for benchmarks (no cache: every request reaches PostgreSQL).
func newEnvTB(tb testing.TB) *testEnv { return newEnvWith(tb, false) }

func newEnvWith(t testing.TB, withRedis bool) *testEnv {
	t.Helper()
	e := &testEnv{db: testenv.DB(t)}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var rdb redis.UniversalClient
	if withRedis {
		e.rdb = testenv.Redis(t)
		rdb = e.rdb
	}
	e.srv = &Server{db: database.NewDB(e.db), cfg: testConfig, logger: logger, now: func() time.Time { return t0 }}
	e.srv.cache = newAggregateCache(rdb, logger)
	e.h = e.srv.routes()
	return e
}

// do sends one request and returns the status and body.
func (e *testEnv) do(t *testing.T, method, target string, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); rec.Body.Len() > 0 && !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, target, ct)
	}
	return rec.Code, rec.Body.Bytes()
}

// get asserts the status of GET target and returns the decoded body.
func (e *testEnv) get(t *testing.T, target string, wantStatus int) any {
	t.Helper()
	code, body := e.do(t, http.MethodGet, target, "")
	if code != wantStatus {
		t.Fatalf("GET %s: status %d, want %d; body %s", target, code, wantStatus, body)
	}
	return decode(t, body)
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return normalizeNumbers(v)
}

// normalizeNumbers turns json.Number into float64 so that 1 and 1.0 compare equal.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
	}
	return v
}

// assertJSON compares got with the JSON document want, every field.
func assertJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	w := decode(t, []byte(want))
	if !reflect.DeepEqual(got, w) {
		g, _ := json.MarshalIndent(got, "", "  ")
		ww, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("%s:\n got %s\nwant %s\ndiff: %s", what, g, ww, diffPaths("", got, w))
	}
}

// diffPaths lists the paths where a and b differ (first few), to read failures fast.
func diffPaths(path string, a, b any) string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return path + " (type) "
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		var ks []string
		for k := range keys {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		var out string
		for _, k := range ks {
			if !reflect.DeepEqual(x[k], y[k]) {
				out += diffPaths(path+"."+k, x[k], y[k])
			}
		}
		return out
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return fmt.Sprintf("%s (len %d vs %v) ", path, len(x), lenOf(b))
		}
		var out string
		for i := range x {
			if !reflect.DeepEqual(x[i], y[i]) {
				out += diffPaths(fmt.Sprintf("%s[%d]", path, i), x[i], y[i])
			}
		}
		return out
	}
	return fmt.Sprintf("%s: %v != %v; ", path, a, b)
}

func lenOf(v any) any {
	if s, ok := v.([]any); ok {
		return len(s)
	}
	return "non-array"
}

// row is one seeded sensor_samples row: column -> value (nil = NULL).
type row map[string]any

// insert writes rows into table.
func insert(t *testing.T, db *pgxpool.Pool, table string, rows ...row) {
	t.Helper()
	for _, r := range rows {
		var cols, ph []string
		var args []any
		for c, v := range r {
			cols = append(cols, `"`+c+`"`)
			args = append(args, v)
			ph = append(ph, fmt.Sprintf("$%d", len(args)))
		}
		q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", table, strings.Join(cols, ", "), strings.Join(ph, ", "))
		if _, err := db.Exec(context.Background(), q, args...); err != nil {
			t.Fatalf("insert into %s: %v", table, err)
		}
	}
}

// rawFrame is the stored raw_message of a frame carrying foie-gras metrics.
func rawFrame(thickness, lStar, deltaE float64) []byte {
	frame := fmt.Sprintf(`{"type":"sensor_data","vl53l8ch_raw":{"bins_matrix":[[1,2]]},"fusion":{"final_grade":"A","foie_gras_metrics":{"lobe_thickness_mm":%v,"l_star":%v,"delta_e":%v,"is_compliant":true}},"meta":{}}`,
		thickness, lStar, deltaE)
	b, _ := sample.EncodeRaw(nil, []byte(frame))
	return b
}

const (
	uuid1 = "00000000-0000-4000-8000-000000000001"
	uuid2 = "00000000-0000-4000-8000-000000000002"
	uuid3 = "00000000-0000-4000-8000-000000000003"
	uuid4 = "00000000-0000-4000-8000-000000000004"
	uuid5 = "00000000-0000-4000-8000-000000000005"
	uuid6 = "00000000-0000-4000-8000-000000000006"
)

const channels1 = `{"F1_415nm":1200,"F2_445nm":1500,"F3_480nm":2000,"F4_515nm":2400,"F5_555nm":3100,"F6_590nm":3700,"F7_630nm":4000,"F8_680nm":3800,"Clear":9000,"NIR":1900}`

// distance1 is an 8x8 matrix whose zones are 1..64, row-major.
func distance1() string {
	var rows []string
	for r := 0; r < 8; r++ {
		var cells []string
		for c := 0; c < 8; c++ {
			cells = append(cells, fmt.Sprint(r*8+c+1))
		}
		rows = append(rows, "["+strings.Join(cells, ",")+"]")
	}
	return "[" + strings.Join(rows, ",") + "]"
}

// seedSamples stores six samples with known values (newest first):
//
//	s1 LL  t0-10m  A+     0.90  full sensor data, lot LOT-1, raw frame
//	s2 LL  t0-20m  A      0.80  no ToF volume, no channels, 3 fusion defects, code_lot CL-2
//	s3 MT  t0-2h   B      0.65
//	s4 MT  t0-26h  C      0.50
//	s5 LL  t0-3d   REJECT 0.30
//	s6 LL  t0-40d  B      0.70
func seedSamples(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	insert(t, db, "sensor_samples",
		row{"id": uuid1, "timestamp": t0.Add(-10 * time.Minute), "device_id": "ESP32_LL_01", "sample_id": "S1",
			"fusion_final_grade": "A+", "fusion_final_score": 0.9, "fusion_vl53l8ch_score": 0.87, "fusion_as7341_score": 0.93,
			"fusion_confidence": 0.95, "fusion_defects": `[{"type":"bile"}]`, "vl53l8ch_defect_count": 2,
			"vl53l8ch_quality_score": 0.88, "vl53l8ch_grade": "A+", "as7341_quality_score": 0.91, "as7341_grade": "A",
			"vl53l8ch_volume_mm3": 1000.5, "vl53l8ch_avg_height_mm": 50.25, "vl53l8ch_max_height_mm": 60.0,
			"vl53l8ch_min_height_mm": 40.0, "vl53l8ch_surface_uniformity": 0.8,
			"vl53l8ch_distance_matrix": distance1(), "vl53l8ch_reflectance_matrix": `[[5]]`, "vl53l8ch_amplitude_matrix": `[[7]]`,
			"vl53l8ch_defects": `["trou"]`, "as7341_channels": channels1, "as7341_integration_time": 100, "as7341_gain": 64,
			"as7341_freshness_index": 0.7, "as7341_fat_quality_index": 0.6, "as7341_oxidation_index": 0.2,
			"as7341_color_uniformity": 0.85, "as7341_defects": `["tache"]`, "lot_abattage": "LOT-1", "code_lot": "CL-1",
			"raw_message": rawFrame(52, 58.5, 3.25), "raw_message_encoding": sample.EncodingZstd},
		row{"id": uuid2, "timestamp": t0.Add(-20 * time.Minute), "device_id": "ESP32_LL_01", "sample_id": "S2",
			"fusion_final_grade": "A", "fusion_final_score": 0.8, "fusion_defects": `[{"a":1},{"b":2},{"c":3}]`,
			"vl53l8ch_quality_score": 0.7, "code_lot": "CL-2"},
		row{"id": uuid3, "timestamp": t0.Add(-2 * time.Hour), "device_id": "ESP32_MT_01", "sample_id": "S3",
			"fusion_final_grade": "B", "fusion_final_score": 0.65},
		row{"id": uuid4, "timestamp": t0.Add(-26 * time.Hour), "device_id": "ESP32_MT_01", "sample_id": "S4",
			"fusion_final_grade": "C", "fusion_final_score": 0.5},
		row{"id": uuid5, "timestamp": t0.Add(-72 * time.Hour), "device_id": "ESP32_LL_01", "sample_id": "S5",
			"fusion_final_grade": "REJECT", "fusion_final_score": 0.3},
		row{"id": uuid6, "timestamp": t0.Add(-40 * 24 * time.Hour), "device_id": "ESP32_LL_01", "sample_id": "S6",
			"fusion_final_grade": "B", "fusion_final_score": 0.7},
	)
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
