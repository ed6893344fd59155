package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/testenv"
)

func post(t *testing.T, url, contentType string, body []byte, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func withID(b []byte, id string) []byte {
	return bytes.Replace(b, []byte(`"LL-260125-0001-001"`), []byte(`"`+id+`"`), 1)
}

func TestHTTPUpload(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	url := h.srv.URL + "/api/ingest/samples"
	minimal := fixtures.Load(t, fixtures.Minimal)
	bad := bytes.Replace(minimal, []byte(`"grade": "B"`), []byte(`"grade": "D"`), 1)

	for _, tc := range []struct {
		name       string
		body       []byte
		status     int
		contains   string
		ctypeProbl bool
	}{
		{"one frame", fixtures.Load(t, fixtures.Sample1), 201, `"status":"saved"`, false},
		{"same frame again", fixtures.Load(t, fixtures.Sample1), 200, `"status":"duplicate"`, false},
		{"invalid frame", bad, 422, `"field":"vl53l8ch.grade"`, true},
		{"not JSON", []byte(`{nope`), 400, `invalid JSON`, true},
		{"not an object", []byte(`"x"`), 422, `must be a JSON object`, true},
		{"batch all good", []byte("[" + string(withID(minimal, "B-1")) + "," + string(withID(minimal, "B-2")) + "]"), 200, `"saved":2,"duplicates":0,"errors":0`, false},
		{"batch mixed", []byte("[" + string(withID(minimal, "B-3")) + "," + string(bad) + "," + string(withID(minimal, "B-1")) + "]"), 422,
			`"saved":1,"duplicates":1,"errors":1`, false},
		{"batch not JSON", []byte(`[{"a":1},`), 400, "invalid JSON", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := post(t, url, "application/json", tc.body, nil)
			if status != tc.status || !strings.Contains(string(body), tc.contains) {
				t.Fatalf("%d %s", status, body)
			}
			if ct := hdr.Get("Content-Type"); tc.ctypeProbl != (ct == "application/problem+json") {
				t.Errorf("content type %q", ct)
			}
		})
	}
	var res BatchResult
	_, _, body := post(t, url, "application/json", []byte("["+string(withID(minimal, "B-4"))+","+string(bad)+"]"), nil)
	if err := json.Unmarshal(body, &res); err != nil || len(res.Results) != 2 || res.Results[1].Field != "vl53l8ch.grade" ||
		res.Results[0].Status != "saved" || res.Results[1].Index != 1 {
		t.Errorf("per-item results: %s", body)
	}
	if n := count(t, h.db, `SELECT count(*) FROM sensor_samples`); n != 5 {
		t.Errorf("rows = %d, want 5", n)
	}
}

func TestCloudEventUpload(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	url := h.srv.URL + "/api/ingest/events"
	minimal := fixtures.Load(t, fixtures.Minimal)
	binary := func(typ string, data []byte) (int, []byte) {
		status, _, b := post(t, url, "application/json", data, map[string]string{
			"ce-specversion": "1.0", "ce-id": "up-1", "ce-source": "/stations/test", "ce-type": typ,
		})
		return status, b
	}
	if s, b := binary(sample.TypeUpload, withID(minimal, "CE-1")); s != 201 || !strings.Contains(string(b), `"status":"saved"`) {
		t.Errorf("binary: %d %s", s, b)
	}
	if s, b := binary(sample.TypeUpload, withID(minimal, "CE-1")); s != 200 || !strings.Contains(string(b), `"status":"duplicate"`) {
		t.Errorf("binary again: %d %s", s, b)
	}
	structured := fmt.Sprintf(`{"specversion":"1.0","id":"up-2","source":"/stations/test","type":%q,"datacontenttype":"application/json","data":%s}`,
		sample.TypeUpload, withID(minimal, "CE-2"))
	if s, _, b := post(t, url, "application/cloudevents+json", []byte(structured), nil); s != 201 {
		t.Errorf("structured: %d %s", s, b)
	}
	if s, b := binary("com.example.other", minimal); s != 400 {
		t.Errorf("other type: %d %s", s, b)
	}
	bad := bytes.Replace(minimal, []byte(`"quality_score": 0.7`), []byte(`"quality_score": 7`), 1)
	if s, b := binary(sample.TypeUpload, bad); s != 422 || !strings.Contains(string(b), "vl53l8ch.quality_score") {
		t.Errorf("invalid data: %d %s", s, b)
	}
	if s, _, b := post(t, url, "application/json", minimal, nil); s != 400 {
		t.Errorf("plain POST: %d %s", s, b)
	}
	if n := count(t, h.db, `SELECT count(*) FROM sensor_samples`); n != 2 {
		t.Errorf("rows = %d", n)
	}
}

// A CloudEvent body over INGEST_READ_LIMIT is 413 naming the limit (Knative dead-letters
// it), whether the length is declared or only found while reading (chunked).
func TestCloudEventTooLarge(t *testing.T) {
	h := newHarness(t, testenv.DB(t), map[string]string{"INGEST_READ_LIMIT": "1048576"})
	url := h.srv.URL + "/api/ingest/events"
	big := mutateJSON(t, fixtures.Load(t, fixtures.Minimal), "padding", strings.Repeat("x", 1<<20))
	structured := []byte(fmt.Sprintf(`{"specversion":"1.0","id":"big-2","source":"/stations/test","type":%q,"data":%s}`, sample.TypeUpload, big))
	ce := map[string]string{"ce-specversion": "1.0", "ce-id": "big-1", "ce-source": "/stations/test", "ce-type": sample.TypeUpload}
	for _, tc := range []struct {
		name, contentType string
		body              []byte
		header            map[string]string
		chunked           bool
	}{
		{"binary", "application/json", big, ce, false},
		{"binary chunked", "application/json", big, ce, true},
		{"structured", "application/cloudevents+json", structured, nil, false},
		{"structured chunked", "application/cloudevents+json", structured, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, url, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.contentType)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var p problemDoc
			if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(b, &p) != nil ||
				p.Status != 413 || !strings.Contains(p.Detail, "1048576 bytes") || !strings.Contains(p.Detail, "INGEST_READ_LIMIT") {
				t.Errorf("%d %s", resp.StatusCode, b)
			}
		})
	}
	// The runtime's HTTP_MAX_BODY_BYTES (its MaxBytesReader under ours) can be the lower
	// limit: the 413 names it.
	runtimeLimited := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 512<<10)
		h.svc.ServeHTTP(w, r)
	}))
	defer runtimeLimited.Close()
	mid := mutateJSON(t, fixtures.Load(t, fixtures.Minimal), "padding", strings.Repeat("x", 600<<10))
	if s, _, b := post(t, runtimeLimited.URL+"/api/ingest/events", "application/json", mid, ce); s != 413 ||
		!strings.Contains(string(b), "limited to 524288 bytes (HTTP_MAX_BODY_BYTES)") {
		t.Errorf("runtime limit: %d %s", s, b)
	}
	// Just under the limit is still a normal upload.
	small := mutateJSON(t, withID(fixtures.Load(t, fixtures.Minimal), "CE-BIG-OK"), "padding", strings.Repeat("x", 512<<10))
	if s, _, b := post(t, url, "application/json", small, ce); s != 201 {
		t.Errorf("under the limit: %d %.200s", s, b)
	}
	if n := count(t, h.db, `SELECT count(*) FROM sensor_samples`); n != 1 {
		t.Errorf("rows = %d, want 1", n)
	}
}

func TestDeviceAuth(t *testing.T) {
	db := testenv.DB(t)
	h := newHarness(t, db, map[string]string{"INGEST_DEVICE_AUTH": "on"})
	key := "k-0123456789abcdef0123456789abcdef"
	hash := HashDeviceKey(key)
	if _, err := db.Exec(context.Background(), `INSERT INTO ingest_device_keys (key_hash, device_id) VALUES ($1, 'ESP32_LL_01')`, hash[:]); err != nil {
		t.Fatal(err)
	}
	// The SQL provisioning recipe of auth.go gives the same hash.
	if n := count(t, db, `SELECT count(*) FROM ingest_device_keys WHERE key_hash = sha256(convert_to($1, 'UTF8'))`, key); n != 1 {
		t.Errorf("SQL recipe hash differs")
	}
	wsURL := "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/ws/sensors/"
	for _, u := range []string{wsURL, wsURL + "?device_key=wrong"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, resp, err := websocket.Dial(ctx, u, nil)
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: handshake without a valid key: %v", u, err)
		}
	}
	ws := h.dial(t, "/ws/sensors/?device_key="+key, nil)
	minimal := fixtures.Load(t, fixtures.Minimal)
	if m := ws.roundTrip(minimal); m["status"] != "saved" {
		t.Errorf("own device: %v", m)
	}
	other := bytes.Replace(withID(minimal, "X-1"), []byte(`"ESP32_LL_01"`), []byte(`"ESP32_LS_02"`), 1)
	if m := ws.roundTrip(other); m["type"] != "error" || !strings.Contains(m["error"].(string), "does not match the device key") {
		t.Errorf("other device: %v", m)
	}
	hdr := http.Header{"X-Device-Key": []string{key}}
	ws2 := h.dial(t, "/ws/sensors/", hdr)
	if m := ws2.roundTrip([]byte(`{"type":"heartbeat","device_id":"ESP32_LL_01"}`)); m["type"] != "heartbeat_ack" {
		t.Errorf("heartbeat: %v", m)
	}
	url := h.srv.URL + "/api/ingest/samples"
	if s, _, b := post(t, url, "application/json", withID(minimal, "H-1"), nil); s != 401 {
		t.Errorf("HTTP without key: %d %s", s, b)
	}
	if s, _, b := post(t, url, "application/json", withID(minimal, "H-1"), map[string]string{"X-Device-Key": key}); s != 201 {
		t.Errorf("HTTP with key: %d %s", s, b)
	}
	if s, _, b := post(t, url, "application/json", bytes.Replace(withID(minimal, "H-2"), []byte(`"ESP32_LL_01"`), []byte(`"OTHER"`), 1),
		map[string]string{"X-Device-Key": key}); s != 403 {
		t.Errorf("HTTP other device: %d %s", s, b)
	}
}

func TestRateLimit(t *testing.T) {
	rdb := testenv.Redis(t)
	db := testenv.DB(t)
	env := map[string]string{"INGEST_RATE_LIMIT": "1", "INGEST_RATE_BURST": "1"}
	a := newHarness(t, db, env, func(d *Deps) { d.Redis = rdb })
	b := newHarness(t, db, env, func(d *Deps) { d.Redis = rdb })
	minimal := fixtures.Load(t, fixtures.Minimal)
	ws := a.dial(t, "/ws/sensors/", nil)
	if m := ws.roundTrip(withID(minimal, "R-1")); m["status"] != "saved" {
		t.Fatalf("first: %v", m)
	}
	if m := ws.roundTrip(withID(minimal, "R-2")); m["type"] != "error" || !strings.Contains(m["error"].(string), "rate limit exceeded") {
		t.Fatalf("second: %v", m)
	}
	// The limit is shared: the other instance refuses too, over HTTP with 429.
	status, hdr, body := post(t, b.srv.URL+"/api/ingest/samples", "application/json", withID(minimal, "R-3"), nil)
	if status != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
		t.Fatalf("HTTP: %d %s", status, body)
	}
	// Other devices are not affected.
	other := bytes.Replace(withID(minimal, "R-4"), []byte(`"ESP32_LL_01"`), []byte(`"ESP32_LL_02"`), 1)
	if m := ws.roundTrip(other); m["status"] != "saved" {
		t.Fatalf("other device: %v", m)
	}
}

func TestLotResolvedFromCodeLot(t *testing.T) {
	h := newHarness(t, testenv.DB(t), nil)
	var lotID int
	if err := h.db.QueryRow(context.Background(),
		`INSERT INTO lots_gavage (code_lot, site_code) VALUES ('LL2511001', 'LL') RETURNING id`).Scan(&lotID); err != nil {
		t.Fatal(err)
	}
	minimal := fixtures.Load(t, fixtures.Minimal)
	url := h.srv.URL + "/api/ingest/samples"
	for id, frame := range map[string][]byte{
		"L-1": mutateJSON(t, withID(minimal, "L-1"), "code_lot", "LL2511001"),                               // resolved
		"L-2": mutateJSON(t, mutateJSON(t, withID(minimal, "L-2"), "code_lot", "LL2511001"), "lot_id", 777), // sent lot_id wins
		"L-3": mutateJSON(t, withID(minimal, "L-3"), "code_lot", "UNKNOWN"),                                 // no such lot
	} {
		if s, _, b := post(t, url, "application/json", frame, nil); s != 201 {
			t.Fatalf("%s: %d %s", id, s, b)
		}
	}
	for id, want := range map[string]int{"L-1": lotID, "L-2": 777, "L-3": 0} {
		var got *int
		if err := h.db.QueryRow(context.Background(), `SELECT lot_id FROM sensor_samples WHERE sample_id = $1`, id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if (got == nil && want != 0) || (got != nil && *got != want) {
			t.Errorf("%s: lot_id %v, want %d", id, got, want)
		}
	}
}
