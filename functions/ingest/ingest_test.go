package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/testenv"
)

// testConfig is the default configuration (as the environment would give it) with
// overrides.
func testConfig(t testing.TB, env map[string]string) Config {
	t.Helper()
	var cfg Config
	if err := config.Load(context.Background(), config.MapLookuper(env), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

type harness struct {
	db  *pgxpool.Pool
	svc *Service
	srv *httptest.Server
}

func newHarness(t *testing.T, db *pgxpool.Pool, env map[string]string, deps ...func(*Deps)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := Deps{Config: testConfig(t, env), DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range deps {
		f(&d)
	}
	svc, err := New(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		svc.Store().Wait()
	})
	return &harness{db: db, svc: svc, srv: srv}
}

type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func (h *harness) dial(t *testing.T, path string, header http.Header) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.srv.URL, "http")+path, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	c.SetReadLimit(32 << 20)
	t.Cleanup(func() { c.CloseNow() })
	w := &wsClient{t: t, c: c}
	if m := w.read(); m["type"] != "connection_established" || m["message"] != connectedMessage {
		t.Fatalf("first frame = %v", m)
	}
	return w
}

func (w *wsClient) send(b []byte) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

func (w *wsClient) readRaw() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	return b, err
}

func (w *wsClient) read() map[string]any {
	w.t.Helper()
	b, err := w.readRaw()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		w.t.Fatalf("reply is not JSON: %s", b)
	}
	return m
}

func (w *wsClient) roundTrip(b []byte) map[string]any {
	w.t.Helper()
	w.send(b)
	return w.read()
}

func count(t *testing.T, db *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestFixturesReplayOverWebSocket(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	ws := h.dial(t, "/ws/sensors/", nil)

	if m := ws.roundTrip(fixtures.Load(t, fixtures.Hello)); m["type"] != "hello_ack" || m["message"] != "HELLO acknowledged for ESP32_DEMO_MT_01" {
		t.Errorf("hello: %v", m)
	}
	if m := ws.roundTrip(fixtures.Load(t, fixtures.Heartbeat)); m["type"] != "heartbeat_ack" || m["device_id"] != "ESP32_DEMO_MT_01" {
		t.Errorf("heartbeat: %v", m)
	}
	if m := ws.roundTrip([]byte(`{"type":"ping"}`)); m["type"] != "pong" || m["timestamp"] == nil {
		t.Errorf("ping: %v", m)
	}
	for _, tc := range []struct {
		name, id, grade string
		score           float64
	}{
		{fixtures.Sample1, "MG-261127-1895-033", "A", 0.8063076884853211},
		{fixtures.Sample2, "MG-261127-6331-083", "REJECT", 0.3574481579851127},
		{fixtures.Minimal, "LL-260125-0001-001", "A", 0.76},
	} {
		raw := fixtures.Load(t, tc.name)
		ack, err := ws.sendRaw(raw)
		if err != nil {
			t.Fatal(err)
		}
		if string(ack[:len(`{"type":"ack","sample_id":`)]) != `{"type":"ack","sample_id":` {
			t.Errorf("%s: ack key order: %s", tc.name, ack)
		}
		var m map[string]any
		_ = json.Unmarshal(ack, &m)
		if m["type"] != "ack" || m["sample_id"] != tc.id || m["status"] != "saved" || m["fusion_grade"] != tc.grade || m["fusion_score"] != tc.score {
			t.Errorf("%s: %s", tc.name, ack)
		}
		// Every received byte is recoverable from raw_message, the histogram at the
		// stored precision (sample.CanonicalFrame, see shared/sample/raw.go).
		var stored []byte
		var enc string
		if err := h.db.QueryRow(context.Background(),
			`SELECT raw_message, raw_message_encoding FROM sensor_samples WHERE sample_id = $1`, tc.id).Scan(&stored, &enc); err != nil {
			t.Fatal(err)
		}
		back, err := sample.DecodeRaw(enc, stored)
		if err != nil || !bytes.Equal(back, sample.CanonicalFrame(raw)) {
			t.Errorf("%s: raw_message does not give back the frame: %v", tc.name, err)
		}
		if want := map[bool]string{true: sample.EncodingZstd, false: sample.EncodingHist}[tc.name == fixtures.Minimal]; enc != want {
			t.Errorf("%s: raw_message_encoding %q, want %q", tc.name, enc, want)
		}
	}

	checkSample1Row(t, h.db)

	var name, site string
	var hello, heartbeat bool
	if err := h.db.QueryRow(context.Background(), `SELECT device_name, site_code, metadata ? 'hello', metadata ? 'heartbeat'
		FROM sqal_devices WHERE device_id = 'ESP32_DEMO_MT_01'`).Scan(&name, &site, &hello, &heartbeat); err != nil {
		t.Fatal(err)
	}
	if name != "ESP32_DEMO_MT_01" || site != "MT" || !hello || !heartbeat {
		t.Errorf("device: name %q site %q hello %v heartbeat %v", name, site, hello, heartbeat)
	}
	if n := count(t, h.db, `SELECT count(*) FROM sqal_devices WHERE device_id = 'ESP32_LL_01' AND site_code = 'LL' AND device_name = device_id`); n != 1 {
		t.Errorf("minimal device row missing")
	}
	if n := count(t, h.db, `SELECT count(*) FROM event_outbox WHERE type = $1 AND source = $2`, sample.TypeStored, sample.Source); n != 3 {
		t.Errorf("outbox events = %d, want 3", n)
	}
	var data []byte
	if err := h.db.QueryRow(context.Background(), `SELECT payload FROM event_outbox WHERE event_id = 'MG-261127-1895-033'`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	var ev sample.StoredEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatalf("event data: %v", err)
	}
	if ev.FinalGrade != "A" || !ev.IsCompliant || ev.SiteCode == nil || *ev.SiteCode != "MT" ||
		!bytes.HasPrefix(ev.SensorUpdate, []byte(`{"type":"sensor_update","timestamp":"2026-11-27T07:55:53.695585+00:00","sample_id":"MG-261127-1895-033"`)) {
		t.Errorf("event: %+v", ev)
	}
	// The values user alert rules read (volume_mm3, height_mm) are those of the row.
	var volume float64
	var height *float64
	if err := h.db.QueryRow(context.Background(), `SELECT vl53l8ch_volume_mm3, vl53l8ch_avg_height_mm
		FROM sensor_samples WHERE sample_id = 'MG-261127-1895-033'`).Scan(&volume, &height); err != nil {
		t.Fatal(err)
	}
	if ev.VolumeMM3 == nil || *ev.VolumeMM3 != volume || volume != 1037036.0584178903 ||
		ev.AvgHeightMM == nil || height == nil || *ev.AvgHeightMM != *height || *height != 12.609670805775984 {
		t.Errorf("event volume/height %v/%v, row %v/%v", ev.VolumeMM3, ev.AvgHeightMM, volume, height)
	}
	var minimal sample.StoredEvent
	if err := h.db.QueryRow(context.Background(), `SELECT payload FROM event_outbox WHERE event_id = 'LL-260125-0001-001'`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &minimal); err != nil || minimal.VolumeMM3 == nil || *minimal.VolumeMM3 != 1e6 || minimal.AvgHeightMM != nil {
		t.Errorf("minimal event volume/height %v/%v (%v)", minimal.VolumeMM3, minimal.AvgHeightMM, err)
	}
}

func (w *wsClient) sendRaw(b []byte) ([]byte, error) {
	w.send(b)
	return w.readRaw()
}

// checkSample1Row checks every mapped column of the sample-1 fixture (contract §1.8).
func checkSample1Row(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	var got string
	err := db.QueryRow(context.Background(), `SELECT concat_ws('|',
		"timestamp" AT TIME ZONE 'UTC', device_id, lot_id, code_lot,
		vl53l8ch_distance_matrix->2, vl53l8ch_reflectance_matrix->0->0, vl53l8ch_amplitude_matrix->3->3,
		vl53l8ch_bins_matrix, vl53l8ch_volume_mm3, round(vl53l8ch_avg_height_mm::numeric, 6), round(vl53l8ch_max_height_mm::numeric, 6),
		vl53l8ch_min_height_mm, vl53l8ch_base_area_mm2, vl53l8ch_surface_uniformity, vl53l8ch_defect_count,
		vl53l8ch_quality_score, vl53l8ch_grade, jsonb_typeof(vl53l8ch_bins_analysis), vl53l8ch_reflectance_analysis->'avg_reflectance',
		vl53l8ch_amplitude_consistency->'signal_stability', vl53l8ch_score_breakdown->'defect_penalty', jsonb_array_length(vl53l8ch_defects),
		as7341_channels->'F1_415nm', as7341_channels->'NIR', as7341_integration_time, as7341_gain, as7341_color_score, as7341_freshness_score,
		as7341_freshness_index, as7341_fat_quality_index, as7341_oxidation_index, as7341_color_uniformity, as7341_quality_score,
		as7341_grade, jsonb_typeof(as7341_spectral_analysis), as7341_color_analysis->'classification', as7341_score_breakdown->'overall_grade',
		jsonb_array_length(as7341_defects), fusion_final_score, fusion_final_grade, fusion_vl53l8ch_score, fusion_as7341_score,
		fusion_confidence, jsonb_array_length(fusion_defects), meta_firmware_version, meta_temperature_c, meta_humidity_percent,
		meta_config_profile, processing_time_ms, created_at IS NOT NULL,
		length(blockchain_hash) = 64 AND blockchain_timestamp IS NOT NULL, qr_code_base64,
		lot_abattage, eleveur, provenance, poids_foie_estime_g, fusion_is_compliant, raw_message_encoding,
		octet_length(raw_message) < 16000)
		FROM sensor_samples WHERE sample_id = 'MG-261127-1895-033'`).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Split(got, "|")
	expect := map[int]string{
		0: "2026-11-27 07:55:53.695585", 1: "ESP32_DEMO_MT_01", 2: "[95, 95, 95, 95, 37, 56, 94, 95]",
		5: "1037036.0584178903", 6: "12.609671", 7: "83.313089", 8: "0", 9: "90000", 10: "0.85", 11: "10",
		13: "REJECT", 14: "object", 15: "150.0", 16: "0.92", 17: "0.1", 18: "10", 19: "1403", 20: "800",
		21: "100", 22: "8", 23: "1", 24: "1", 25: "0", 26: "1", 27: "0.9999999999999999", 28: "A+", 29: "object",
		31: `"A+"`, 32: "0", 33: "0.8063076884853211", 34: "A", 35: "0.6771794808088686", 36: "0.9999999999999999",
		37: "10", 38: "1.0.0", 40: "45", 41: "foiegras_standard_barquette", 43: "t", 44: "t",
		45: "LOT-20261127--033", 46: "Ferme Martin", 47: "Périgord, France", 48: "982.1", 49: "t",
		50: "zstd-hq1", 51: "t",
	}
	// concat_ws skips NULLs: lot_id, code_lot, bins_matrix, color/freshness score,
	// fusion_confidence and qr are NULL, so count the fields.
	if len(fields) != 52 {
		t.Fatalf("sample-1 row has %d non-null fields, want 52: %s", len(fields), got)
	}
	// The integrity seal is the SHA-256 of the frame as stored (the frame as received
	// with its histogram at the stored precision), recomputable from raw_message.
	var seal string
	var stored []byte
	var enc string
	if err := db.QueryRow(context.Background(), `SELECT blockchain_hash, raw_message, raw_message_encoding FROM sensor_samples WHERE sample_id = 'MG-261127-1895-033'`).Scan(&seal, &stored, &enc); err != nil {
		t.Fatal(err)
	}
	frame, err := sample.DecodeRaw(enc, stored)
	if err != nil || !sample.VerifySeal(frame, seal) || !sample.VerifySeal(sample.CanonicalFrame(fixtures.Load(t, fixtures.Sample1)), seal) {
		t.Errorf("blockchain_hash %s is not the SHA-256 of the stored frame (%v)", seal, err)
	}
	for i, w := range expect {
		if fields[i] != w {
			t.Errorf("sample-1 field %d = %q, want %q", i, fields[i], w)
		}
	}
	for i, check := range map[int]func(string) bool{
		3:  func(s string) bool { return s != "" },                               // reflectance
		4:  func(s string) bool { return s != "" },                               // amplitude
		12: func(s string) bool { return strings.HasPrefix(s, "0.0") },           // quality score
		30: func(s string) bool { return s != "" },                               // quality_js classification
		39: func(s string) bool { return s > "17" && s < "24" },                  // temperature
		42: func(s string) bool { return s > "100" && s < "2100" || len(s) > 3 }, // processing ms
	} {
		if !check(fields[i]) {
			t.Errorf("sample-1 field %d = %q", i, fields[i])
		}
	}
}

func TestDuplicateSample(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	ws := h.dial(t, "/ws/sensors/", nil)
	raw := fixtures.Load(t, fixtures.Sample1)
	if m := ws.roundTrip(raw); m["status"] != "saved" {
		t.Fatalf("first: %v", m)
	}
	if m := ws.roundTrip(raw); m["status"] != "duplicate" || m["type"] != "ack" || m["fusion_grade"] != "A" {
		t.Fatalf("second: %v", m)
	}
	if n := count(t, h.db, `SELECT count(*) FROM sensor_samples WHERE sample_id = 'MG-261127-1895-033'`); n != 1 {
		t.Errorf("rows = %d", n)
	}
	if n := count(t, h.db, `SELECT count(*) FROM event_outbox WHERE event_id = 'MG-261127-1895-033'`); n != 1 {
		t.Errorf("events = %d", n)
	}
}

func TestTwoInstancesOneRow(t *testing.T) {
	db := testenv.DB(t)
	a, b := newHarness(t, db, nil), newHarness(t, db, nil)
	raw := fixtures.Load(t, fixtures.Sample2)
	wa, wb := a.dial(t, "/ws/sensors/", nil), b.dial(t, "/ws/sensors/", nil)
	// Both instances get the same sample at the same time.
	wa.send(raw)
	wb.send(raw)
	statuses := []any{wa.read()["status"], wb.read()["status"]}
	if !(statuses[0] == "saved" && statuses[1] == "duplicate" || statuses[0] == "duplicate" && statuses[1] == "saved") {
		t.Errorf("statuses = %v", statuses)
	}
	if n := count(t, db, `SELECT count(*) FROM sensor_samples`); n != 1 {
		t.Errorf("rows = %d", n)
	}
	if n := count(t, db, `SELECT count(*) FROM event_outbox`); n != 1 {
		t.Errorf("events = %d", n)
	}
}

func TestHeartbeatNeverErrors(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	ws := h.dial(t, "/ws/sensors", nil) // the slash-less spelling is served too
	for _, hb := range []string{
		string(fixtures.Load(t, fixtures.Heartbeat)),
		`{"type":"heartbeat"}`,
		`{"type":"heartbeat","device_id":"ESP32_DEMO_MT_01","timestamp":"garbage","stats":NaN}`,
		`{"type":"heartbeat","device_id":12}`,
		`{"type":"heartbeat","device_id":"` + strings.Repeat("x", 300) + `"}`,
	} {
		m := ws.roundTrip([]byte(hb))
		if m["type"] != "heartbeat_ack" {
			t.Errorf("%.60s: %v", hb, m)
		}
	}
	// last_seen never moves backwards.
	ws.roundTrip([]byte(`{"type":"heartbeat","device_id":"D_LL_1","timestamp":"2026-01-02T00:00:00Z"}`))
	ws.roundTrip([]byte(`{"type":"heartbeat","device_id":"D_LL_1","timestamp":"2026-01-01T00:00:00Z"}`))
	if n := count(t, h.db, `SELECT count(*) FROM sqal_devices WHERE device_id = 'D_LL_1' AND last_seen = '2026-01-02T00:00:00Z'
		AND metadata->'heartbeat'->>'timestamp' = '2026-01-01T00:00:00Z'`); n != 1 {
		t.Errorf("last_seen moved backwards or heartbeat not stored")
	}
}

func TestInvalidJSONClosesWith1011(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	for _, tc := range []struct {
		name string
		typ  websocket.MessageType
		data string
	}{
		{"text", websocket.MessageText, "this is not json"},
		{"truncated", websocket.MessageText, `{"type":"sensor_data",`},
		{"binary", websocket.MessageBinary, `{"type":"ping"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := h.dial(t, "/ws/sensors/", nil)
			// An earlier frame is still answered before the close.
			ws.send([]byte(`{"type":"ping"}`))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := ws.c.Write(ctx, tc.typ, []byte(tc.data)); err != nil {
				t.Fatal(err)
			}
			if m := ws.read(); m["type"] != "pong" {
				t.Fatalf("reply before close: %v", m)
			}
			_, err := ws.readRaw()
			if s := websocket.CloseStatus(err); s != websocket.StatusInternalError {
				t.Fatalf("close status = %v (%v), want 1011", s, err)
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) || !strings.HasPrefix(ce.Reason, "invalid JSON") || len(ce.Reason) > 123 {
				t.Errorf("close reason %q", ce.Reason)
			}
		})
	}
}

func TestBadFrameKeepsSocketOpen(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	ws := h.dial(t, "/ws/sensors/", nil)
	bad := bytes.Replace(fixtures.Load(t, fixtures.Minimal), []byte(`"final_score": 0.76`), []byte(`"final_score": 1.5`), 1)
	b, err := ws.sendRaw(bad)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Type  string          `json:"type"`
		Error string          `json:"error"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Type != "error" || m.Error != "validation failed: fusion.final_score: must be <= 1" {
		t.Fatalf("reply: %s", b)
	}
	if !strings.HasPrefix(string(b), `{"type":"error","timestamp":`) {
		t.Errorf("key order: %.80s", b)
	}
	var echoed, sent any
	_ = json.Unmarshal(m.Data, &echoed)
	_ = json.Unmarshal(bad, &sent)
	if fmt.Sprint(echoed) != fmt.Sprint(sent) {
		t.Errorf("data does not echo the frame")
	}
	if r := ws.roundTrip([]byte(`[1,2,3]`)); r["type"] != "error" {
		t.Errorf("array frame: %v", r)
	}
	if r := ws.roundTrip([]byte(`{"type":"ping"}`)); r["type"] != "pong" {
		t.Errorf("socket closed after an error reply: %v", r)
	}
	if r := ws.roundTrip(fixtures.Load(t, fixtures.Minimal)); r["status"] != "saved" {
		t.Errorf("valid frame after an error: %v", r)
	}
	if n := count(t, h.db, `SELECT count(*) FROM sensor_samples`); n != 1 {
		t.Errorf("rows = %d, the invalid frame must store nothing", n)
	}
}

// TestStorageFailureLosesNothingAcked: the database goes away in the middle of a
// stream; the station gets error replies (never an ack for an unstored sample), and
// the frames it resends once the database is back are stored.
func TestStorageFailureLosesNothingAcked(t *testing.T) {
	db := testenv.DB(t)
	h := newHarness(t, db, map[string]string{"INGEST_STORE_TIMEOUT": "1s"})
	ws := h.dial(t, "/ws/sensors/", nil)
	var dbName string
	if err := db.QueryRow(context.Background(), `SELECT current_database()`).Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	admin, err := pgxpool.New(context.Background(), strings.Replace(db.Config().ConnString(), "/"+dbName, "/postgres", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	outage := func(on bool) {
		t.Helper()
		if _, err := admin.Exec(context.Background(), fmt.Sprintf(`ALTER DATABASE %q WITH ALLOW_CONNECTIONS %v`, dbName, !on)); err != nil {
			t.Fatal(err)
		}
		if on {
			if _, err := admin.Exec(context.Background(),
				`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, dbName); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() { outage(false) })

	base := fixtures.Load(t, fixtures.Minimal)
	frame := func(i int) []byte {
		return bytes.Replace(base, []byte(`"LL-260125-0001-001"`), []byte(fmt.Sprintf(`"LL-260125-0001-%03d"`, i)), 1)
	}
	acked := map[string]bool{}
	var unacked []int
	for i := range 30 {
		if i == 10 {
			outage(true)
		}
		if i == 20 {
			outage(false)
		}
		m := ws.roundTrip(frame(i))
		switch m["type"] {
		case "ack":
			acked[m["sample_id"].(string)] = true
		case "error":
			if !strings.HasPrefix(m["error"].(string), "storage failure") {
				t.Errorf("frame %d: %v", i, m["error"])
			}
			unacked = append(unacked, i)
		default:
			t.Fatalf("frame %d: %v", i, m)
		}
	}
	if len(unacked) < 5 {
		t.Errorf("only %d storage errors during the outage", len(unacked))
	}
	// The station resends what was not acknowledged.
	for _, i := range unacked {
		if m := ws.roundTrip(frame(i)); m["type"] != "ack" {
			t.Errorf("resend %d: %v", i, m)
		} else {
			acked[m["sample_id"].(string)] = true
		}
	}
	rows, err := db.Query(context.Background(), `SELECT sample_id FROM sensor_samples`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		stored[id] = true
	}
	for id := range acked {
		if !stored[id] {
			t.Errorf("acked sample %s is not stored", id)
		}
	}
	if len(stored) != 30 || len(acked) != 30 {
		t.Errorf("stored %d acked %d, want 30", len(stored), len(acked))
	}
	if n := count(t, db, `SELECT count(*) FROM event_outbox`); n != 30 {
		t.Errorf("events = %d, want 30", n)
	}
}

// TestPingsAnsweredWhileStoring: a slow store must not stop the connection's reader,
// so WebSocket pings keep being answered (the simulator drops the link after 20 s).
func TestPingsAnsweredWhileStoring(t *testing.T) {
	db := testenv.DB(t)
	frame := fixtures.Load(t, fixtures.Minimal)
	h := newHarness(t, db, nil)
	ws := h.dial(t, "/ws/sensors/", nil)
	// Hold the device row lock: the sample's device upsert waits behind it.
	tx, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A failure below must not leave the transaction open: closing the pool would wait
	// for its connection forever.
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(context.Background(), `INSERT INTO sqal_devices (device_id) VALUES ('ESP32_LL_01')`); err != nil {
		t.Fatal(err)
	}
	// Reads happen in the background: a WebSocket ping needs someone reading on our side.
	replies := make(chan map[string]any, 1)
	go func() {
		b, err := ws.readRaw()
		var m map[string]any
		if err == nil {
			_ = json.Unmarshal(b, &m)
		}
		replies <- m
	}()
	ws.send(frame)
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ws.c.Ping(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ping not answered while a sample is being stored: %v", err)
		}
	}
	select {
	case m := <-replies:
		t.Fatalf("replied before the store could commit: %v", m)
	default:
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := <-replies; m["status"] != "saved" {
		t.Fatalf("after unlock: %v", m)
	}
}

func TestPipelinedRepliesInOrder(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	ws := h.dial(t, "/ws/sensors/", nil)
	base := fixtures.Load(t, fixtures.Minimal)
	const n = 50
	go func() {
		for i := range n {
			if i%10 == 5 {
				ws.send([]byte(`{"type":"ping"}`))
			}
			ws.send(bytes.Replace(base, []byte(`"LL-260125-0001-001"`), []byte(fmt.Sprintf(`"P-%03d"`, i)), 1))
		}
	}()
	next := 0
	for next < n {
		m := ws.read()
		if m["type"] == "pong" {
			continue
		}
		if want := fmt.Sprintf("P-%03d", next); m["sample_id"] != want || m["status"] != "saved" {
			t.Fatalf("reply %d = %v, want ack of %s", next, m, want)
		}
		next++
	}
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	db := testenv.DB(t)
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := New(ctx, Deps{Config: testConfig(t, nil), DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	h := &harness{db: db, svc: svc, srv: srv}
	ws := h.dial(t, "/ws/sensors/", nil)
	if m := ws.roundTrip(fixtures.Load(t, fixtures.Minimal)); m["status"] != "saved" {
		t.Fatalf("ack: %v", m)
	}
	cancel()
	_, err = ws.readRaw()
	if s := websocket.CloseStatus(err); s != websocket.StatusGoingAway {
		t.Fatalf("close status = %v (%v), want 1001", s, err)
	}
	svc.Store().Wait()
}

// Frames of several MiB are accepted (contract §1.1: at least 1 MiB, legacy 16 MiB).
func TestLargeFrameAccepted(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	ws := h.dial(t, "/ws/sensors/", nil)
	big := mutateJSON(t, fixtures.Load(t, fixtures.Minimal), "padding", strings.Repeat("x", 3<<20))
	if m := ws.roundTrip(big); m["status"] != "saved" {
		t.Fatalf("3 MiB frame: %v", m)
	}
	var stored []byte
	var enc string
	if err := h.db.QueryRow(context.Background(), `SELECT raw_message, raw_message_encoding FROM sensor_samples`).Scan(&stored, &enc); err != nil {
		t.Fatal(err)
	}
	if back, err := sample.DecodeRaw(enc, stored); err != nil || !bytes.Equal(back, big) {
		t.Fatalf("raw_message round trip: %v", err)
	}
}

func mutateJSON(t *testing.T, b []byte, key string, value any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = value
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The legacy simulator never reads replies (§1.1 quirk): samples keep being stored.
func TestClientThatNeverReads(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	ws := h.dial(t, "/ws/sensors/", nil)
	base := fixtures.Load(t, fixtures.Minimal)
	const n = 150
	for i := range n {
		ws.send(withID(base, fmt.Sprintf("NR-%04d", i)))
	}
	deadline := time.Now().Add(20 * time.Second)
	for count(t, h.db, `SELECT count(*) FROM sensor_samples`) < n {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d of %d samples from a client that reads nothing", count(t, h.db, `SELECT count(*) FROM sensor_samples`), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Many devices at once: group commits share hot rows (device rows, the hourly rollup of
// migration 00040); none may deadlock or fail.
func TestConcurrentDevicesStoreEverything(t *testing.T) {
	h := newHarness(t, testenv.DB(t), map[string]string{"INGEST_MAX_GROUP": "8"})
	base := fixtures.Load(t, fixtures.Minimal)
	const conns, perConn = 12, 25
	errs := make(chan error, conns)
	clients := make([]*wsClient, conns)
	for c := range clients {
		clients[c] = h.dial(t, "/ws/sensors/", nil)
	}
	for c, ws := range clients {
		go func() {
			dev := fmt.Sprintf("ESP32_LL_%02d", c)
			for i := range perConn {
				frame := bytes.Replace(withID(base, fmt.Sprintf("C%02d-%03d", c, i)), []byte(`"ESP32_LL_01"`), []byte(`"`+dev+`"`), 1)
				for range 1 + boolInt(i%5 == 4) { // some duplicates inside the stream
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					err := ws.c.Write(ctx, websocket.MessageText, frame)
					cancel()
					if err != nil {
						errs <- err
						return
					}
				}
			}
			for i := 0; i < perConn+perConn/5; i++ {
				b, err := ws.readRaw()
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Contains(b, []byte(`"type":"ack"`)) {
					errs <- fmt.Errorf("%s", b)
					return
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, h.db, `SELECT count(*) FROM sensor_samples`); n != conns*perConn {
		t.Errorf("rows = %d, want %d", n, conns*perConn)
	}
	if n := count(t, h.db, `SELECT count(*) FROM event_outbox`); n != conns*perConn {
		t.Errorf("events = %d, want %d", n, conns*perConn)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
