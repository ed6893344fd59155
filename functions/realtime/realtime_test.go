package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

func testConfig(t *testing.T) Config {
	return Config{
		// Channels are global to a Redis server: one per test keeps tests apart even on
		// a shared TEST_REDIS_URL.
		Channel:      "sqal:realtime:test:" + t.Name(),
		PingInterval: time.Hour, // tests of the ping set their own

		QueueSize:         64,
		SlowClientTimeout: 10 * time.Second,
		WriteTimeout:      5 * time.Second,
		DedupeTTL:         time.Minute,
	}
}

type instance struct {
	srv *Server
	hs  *httptest.Server
}

func (in instance) wsURL() string {
	return "ws" + strings.TrimPrefix(in.hs.URL, "http") + "/ws/realtime/"
}

func start(t *testing.T, cfg Config, rdb *redis.Client, db *pgxpool.Pool, opts ...func(*httptest.Server)) instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := Deps{Config: cfg, Redis: rdb}
	if db != nil {
		d.DB = database.NewDB(db)
	}
	srv, err := New(ctx, d)
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewUnstartedServer(withTestScope(srv))
	for _, o := range opts {
		o(hs)
	}
	hs.Start()
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		cancel()
	})
	return instance{srv, hs}
}

// withTestScope stands in for the auth middleware, which gives every request the scope
// of its caller: the scope named by the test-only "scope" query parameter ("all", an
// organisation id, "none"), the default organisation's when absent (the anonymous
// caller of open mode).
func withTestScope(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := tenant.Org(tenant.DefaultOrganization)
		switch v := r.URL.Query().Get("scope"); v {
		case "":
		case "all":
			s = tenant.All()
		case "none":
			s = tenant.Scope{}
		default:
			s = tenant.Org(v)
		}
		h.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), s)))
	})
}

type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

// dial connects and consumes connection_established.
func dial(t *testing.T, in instance) (*wsClient, map[string]any) {
	t.Helper()
	return dialURL(t, in.wsURL())
}

func dialURL(t *testing.T, url string) (*wsClient, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(1 << 24)
	t.Cleanup(func() { _ = conn.CloseNow() })
	c := &wsClient{t, conn}
	hello := c.next(5 * time.Second)
	if hello["type"] != typeConnectionEstablished || hello["message"] != welcomeMessage {
		t.Fatalf("first message = %v", hello)
	}
	return c, hello
}

func (c *wsClient) nextRaw(timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	return b, err
}

func (c *wsClient) next(timeout time.Duration) map[string]any {
	c.t.Helper()
	b, err := c.nextRaw(timeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) subscribe(filters string) {
	c.t.Helper()
	c.send(`{"type":"subscribe","filters":` + filters + `}`)
	if m := c.next(5 * time.Second); m["type"] != typeSubscribeAck {
		c.t.Fatalf("want subscribe_ack, got %v", m)
	}
}

// storedEvent builds a sqal.sample.stored event whose sensor_update carries a marker.
func storedEvent(id, device string, site *string, grade string, pad int) cloudevents.Event {
	upd := fmt.Sprintf(`{"type":"sensor_update","timestamp":"2026-11-27T07:55:53.695585+00:00","sample_id":%q,"device_id":%q,"pad":%q}`,
		id, device, strings.Repeat("x", pad))
	data := sample.StoredEvent{SampleID: id, DeviceID: device, SiteCode: site, FinalGrade: grade, FinalScore: 0.8,
		Timestamp: time.Now().UTC(), SensorUpdate: json.RawMessage(upd)}
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetSource(sample.Source)
	e.SetType(sample.TypeStored)
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		panic(err)
	}
	return e
}

func post(t *testing.T, in instance, e cloudevents.Event, structured bool) int {
	t.Helper()
	var req *http.Request
	if structured {
		body, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		req, _ = http.NewRequest(http.MethodPost, in.hs.URL+"/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/cloudevents+json")
	} else {
		req, _ = http.NewRequest(http.MethodPost, in.hs.URL+"/events", bytes.NewReader(e.Data()))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Id", e.ID())
		req.Header.Set("Ce-Source", e.Source())
		req.Header.Set("Ce-Type", e.Type())
		for k, v := range e.Extensions() {
			req.Header.Set("Ce-"+k, fmt.Sprint(v))
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /events: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func mustPost(t *testing.T, in instance, e cloudevents.Event, structured bool) {
	t.Helper()
	if code := post(t, in, e, structured); code != http.StatusAccepted {
		t.Fatalf("POST %s: status %d", e.ID(), code)
	}
}

func TestCrossInstanceFanOut(t *testing.T) {
	rdb := testenv.Redis(t)
	cfg := testConfig(t)
	a, b := start(t, cfg, rdb, nil), start(t, cfg, rdb, nil)
	onB, hello := dial(t, b)
	if hello["active_connections"] != float64(1) {
		t.Fatalf("active_connections = %v, want 1", hello["active_connections"])
	}
	onA, _ := dial(t, a)

	site := "MT"
	e := storedEvent("MG-261127-1895-033", "ESP32_DEMO_MT_01", &site, "A", 0)
	mustPost(t, a, e, false)
	for name, c := range map[string]*wsClient{"B": onB, "A": onA} {
		got, err := c.nextRaw(5 * time.Second)
		if err != nil {
			t.Fatalf("client on %s: %v", name, err)
		}
		var d sample.StoredEvent
		_ = json.Unmarshal(e.Data(), &d)
		if !bytes.Equal(got, d.SensorUpdate) {
			t.Fatalf("client on %s got %s, want the sensor_update verbatim %s", name, got, d.SensorUpdate)
		}
	}

	// An alert in structured mode, received by B.
	al := cloudevents.NewEvent()
	al.SetID(alert.EventID("MG-261127-6331-083", alert.TypeGradeReject))
	al.SetSource(alert.Source)
	al.SetType(alert.TypeRaised)
	al.SetExtension(alert.ExtDevice, "ESP32_DEMO_MT_01")
	al.SetExtension(alert.ExtSite, "MT")
	_ = al.SetData(cloudevents.ApplicationJSON, json.RawMessage(`{"time":"2026-11-27T07:56:44.5+00:00","alert_id":7,
		"device_id":"ESP32_DEMO_MT_01","sample_id":"MG-261127-6331-083","alert_type":"grade_reject","severity":"critical",
		"message":"Échantillon REJETÉ - Non conforme qualité","data_context":{"fusion_score":0.3574481579851127,"is_compliant":false},
		"is_acknowledged":false,"acknowledged_at":null,"acknowledged_by":null}`))
	mustPost(t, a, al, true)
	raw, err := onB.nextRaw(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Type    string          `json:"type"`
		Data    json.RawMessage `json:"data"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil || msg.Type != typeAlert {
		t.Fatalf("alert message %s: %v", raw, err)
	}
	if !strings.HasPrefix(string(raw), `{"type":"alert","timestamp":"`) {
		t.Fatalf("key order: %s", raw)
	}
	wantPayload := `{"id":"7","severity":"critical","title":"grade_reject","message":"Échantillon REJETÉ - Non conforme qualité","source":"ESP32_DEMO_MT_01","timestamp":"2026-11-27T07:56:44.500000+00:00","acknowledged":false}`
	if string(msg.Payload) != wantPayload {
		t.Fatalf("payload = %s\nwant      %s", msg.Payload, wantPayload)
	}
	if !strings.Contains(string(msg.Data), `"alert_id":7`) || !strings.Contains(string(msg.Data), `"data_context":{"fusion_score":0.3574481579851127,"is_compliant":false}`) {
		t.Fatalf("data = %s", msg.Data)
	}

	// A prediction, sent as its own message type.
	pr := cloudevents.NewEvent()
	pr.SetID("pred-1")
	pr.SetSource("/sqal/predict")
	pr.SetType(TypePredictionCreated)
	_ = pr.SetData(cloudevents.ApplicationJSON, ml.PredictionEvent{SampleID: "MG-1", DeviceID: "ESP32_DEMO_MT_01",
		ModelName: "sqal-gbm", ModelVersion: "3", Score: 0.71, Grade: "B", Explanation: ml.Explanation{Method: "additive"}})
	mustPost(t, b, pr, false)
	if m := onA.next(5 * time.Second); m["type"] != typeAlert {
		t.Fatalf("client on A: want the alert first, got %v", m)
	}
	m := onA.next(5 * time.Second)
	d, _ := m["data"].(map[string]any)
	if m["type"] != typePrediction || d["sample_id"] != "MG-1" || d["model_name"] != "sqal-gbm" || d["score"] != 0.71 || d["grade"] != "B" ||
		d["explanations"].(map[string]any)["method"] != "additive" || len(d) != 6 {
		t.Fatalf("prediction message = %v", m)
	}
}

func TestPredictionTypePinned(t *testing.T) {
	if TypePredictionCreated != ml.TypePredictionCreated {
		t.Fatalf("TypePredictionCreated = %q, ml says %q", TypePredictionCreated, ml.TypePredictionCreated)
	}
}

func TestDuplicateEventDeliveredOnce(t *testing.T) {
	rdb := testenv.Redis(t)
	cfg := testConfig(t)
	a, b := start(t, cfg, rdb, nil), start(t, cfg, rdb, nil)
	c, _ := dial(t, b)

	e := storedEvent("LL-261127-0001-001", "ESP32_DEMO_LL_01", nil, "A", 0)
	mustPost(t, a, e, false)
	mustPost(t, a, e, true)  // redelivery to the same instance
	mustPost(t, b, e, false) // and to another one
	mustPost(t, a, storedEvent("LL-261127-0001-002", "ESP32_DEMO_LL_01", nil, "A", 0), false)

	for _, want := range []string{"LL-261127-0001-001", "LL-261127-0001-002"} {
		if m := c.next(5 * time.Second); m["sample_id"] != want {
			t.Fatalf("got %v, want sample %s (a duplicate was delivered)", m["sample_id"], want)
		}
	}
}

func TestEventRejections(t *testing.T) {
	rdb := testenv.Redis(t)
	in := start(t, testConfig(t), rdb, nil)
	do := func(ct string, h map[string]string, body string) int {
		req, _ := http.NewRequest(http.MethodPost, in.hs.URL+"/events", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ce := func(typ string) map[string]string {
		return map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "1", "Ce-Source": "/x", "Ce-Type": typ}
	}
	cases := []struct {
		name string
		ct   string
		h    map[string]string
		body string
		want int
	}{
		{"plain JSON without ce headers", "application/json", nil, `{}`, 400},
		{"missing type", "application/json", map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "1", "Ce-Source": "/x"}, `{}`, 400},
		{"unknown type", "application/json", ce("com.example.other"), `{}`, 400},
		{"undecodable data", "application/json", ce(sample.TypeStored), `[`, 400},
		{"no sensor_update", "application/json", ce(sample.TypeStored), `{"sample_id":"S","device_id":"D"}`, 400},
		{"prediction without sample", "application/json", ce(TypePredictionCreated), `{"score":1}`, 400},
		{"batch mode", "application/cloudevents-batch+json", nil, `[]`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := do(tc.ct, tc.h, tc.body); got != tc.want {
				t.Fatalf("status = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSubscribeFiltersEndToEnd(t *testing.T) {
	rdb := testenv.Redis(t)
	in := start(t, testConfig(t), rdb, nil)
	ll, mt := "LL", "MT"
	c, _ := dial(t, in)

	// Echo of filters, absent filters and unsubscribe.
	c.send(`{"type":"subscribe","filters":{"site_code":"LL","min_grade":"B","extra":[1,2]}}`)
	if m := c.next(5 * time.Second); m["type"] != typeSubscribeAck || fmt.Sprint(m["filters"]) != "map[extra:[1 2] min_grade:B site_code:LL]" {
		t.Fatalf("subscribe_ack = %v", m)
	}
	mustPost(t, in, storedEvent("S1", "ESP32_DEMO_MT_01", &mt, "A+", 0), false) // wrong site
	mustPost(t, in, storedEvent("S2", "ESP32_DEMO_LL_01", &ll, "C", 0), false)  // grade too low
	mustPost(t, in, storedEvent("S3", "ESP32_DEMO_LL_01", nil, "A", 0), false)  // no site
	mustPost(t, in, storedEvent("S4", "ESP32_DEMO_LL_01", &ll, "B", 0), false)  // passes
	if m := c.next(5 * time.Second); m["sample_id"] != "S4" {
		t.Fatalf("got %v, want S4 only", m)
	}

	c.send(`{"type":"subscribe"}`)
	if m := c.next(5 * time.Second); m["type"] != typeSubscribeAck || fmt.Sprint(m["filters"]) != "map[]" {
		t.Fatalf("subscribe_ack without filters = %v", m)
	}
	c.subscribe(`{"device_id":null}`)
	mustPost(t, in, storedEvent("S5", "ESP32_DEMO_LL_01", &ll, "A", 0), false) // null device never equal
	// The fan-out reaches this client through Redis, so S5 may be filtered before or
	// after the next subscribe: that filter rejects S5 too, and lets the sentinel through.
	c.subscribe(`{"device_id":"ESP32_DEMO_MT_01"}`)
	mustPost(t, in, storedEvent("S5b", "ESP32_DEMO_MT_01", &mt, "A", 0), false)
	if m := c.next(5 * time.Second); m["sample_id"] != "S5b" {
		t.Fatalf("got %v, want S5b (S5 has a device the null filter never equals)", m)
	}
	c.send(`{"type":"unsubscribe"}`)
	if m := c.next(5 * time.Second); m["type"] != typeUnsubscribeAck {
		t.Fatalf("unsubscribe_ack = %v", m)
	}
	mustPost(t, in, storedEvent("S6", "ESP32_DEMO_LL_01", &ll, "REJECT", 0), false)
	if m := c.next(5 * time.Second); m["sample_id"] != "S6" {
		t.Fatalf("after unsubscribe got %v, want S6", m)
	}
}

func TestControlFrames(t *testing.T) {
	rdb := testenv.Redis(t)
	in := start(t, testConfig(t), rdb, nil)

	c, _ := dial(t, in)
	c.send(`[1,2,3]`) // valid JSON, not an object: ignored
	c.send(`"heartbeat"`)
	c.send(`{"type":"nonsense"}`)
	c.send(`{"type":"heartbeat"}`)
	m := c.next(5 * time.Second)
	if m["type"] != typeHeartbeatAck || m["timestamp"] == nil || len(m) != 2 {
		t.Fatalf("heartbeat reply = %v", m)
	}

	c.send(`{"type":`)
	_, err := c.nextRaw(5 * time.Second)
	if websocket.CloseStatus(err) != websocket.StatusInternalError {
		t.Fatalf("unparsable frame: close status %v (%v), want 1011", websocket.CloseStatus(err), err)
	}

	c2, _ := dial(t, in)
	if err := c2.conn.Write(context.Background(), websocket.MessageBinary, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.nextRaw(5 * time.Second); websocket.CloseStatus(err) != websocket.StatusInternalError {
		t.Fatalf("binary frame: close status %v, want 1011", websocket.CloseStatus(err))
	}

	// Both paths are served; anything below them is not.
	for path, want := range map[string]int{"/ws/realtime": http.StatusUpgradeRequired, "/ws/realtime/": http.StatusUpgradeRequired, "/ws/realtime/x": http.StatusNotFound} {
		resp, err := http.Get(in.hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestPingAfterSilence(t *testing.T) {
	rdb := testenv.Redis(t)
	cfg := testConfig(t)
	cfg.PingInterval = time.Second
	in := start(t, cfg, rdb, nil)
	c, _ := dial(t, in)

	start := time.Now()
	m := c.next(5 * time.Second)
	if m["type"] != typePing || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("got %v after %v, want ping after ~1s", m, time.Since(start))
	}
	// Pings repeat while the client stays silent.
	if m := c.next(5 * time.Second); m["type"] != typePing {
		t.Fatalf("want a second ping, got %v", m)
	}
	// A client message restarts the timer: the next ping comes a full interval after
	// it, not on the old schedule (only a lower bound is checked: a loaded machine may
	// be late, never early).
	time.Sleep(200 * time.Millisecond) // well before the old schedule's next ping
	talked := time.Now()
	c.send(`{"type":"unknown"}`)
	if m := c.next(5 * time.Second); m["type"] != typePing {
		t.Fatalf("want a ping, got %v", m)
	}
	if d := time.Since(talked); d < 950*time.Millisecond {
		t.Fatalf("ping %v after the client spoke, want a full interval (1s)", d)
	}
}

func TestSlowClientDoesNotBlockOthers(t *testing.T) {
	rdb := testenv.Redis(t)
	cfg := testConfig(t)
	cfg.QueueSize = 4
	cfg.SlowClientTimeout = 300 * time.Millisecond
	cfg.WriteTimeout = time.Minute // the slow client must be caught by the queue policy
	// Small socket buffers on both sides, so a client that does not read blocks the
	// server's writes after a few messages instead of after megabytes.
	tcp := func(c net.Conn) *net.TCPConn { return c.(*net.TCPConn) }
	in := start(t, cfg, rdb, nil, func(hs *httptest.Server) {
		hs.Config.ConnState = func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				_ = tcp(c).SetWriteBuffer(8 << 10)
			}
		}
	})
	slowConn, _, err := websocket.Dial(context.Background(), in.wsURL(), &websocket.DialOptions{HTTPClient: &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				_ = tcp(c).SetReadBuffer(4 << 10)
			}
			return c, err
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer slowConn.CloseNow() // never reads
	fast, _ := dial(t, in)
	waitFor(t, 5*time.Second, func() bool { return in.srv.Clients() == 2 }, "both clients connected")

	const n = 40
	got := make(chan []string, 1)
	go func() {
		var ids []string
		for len(ids) < n {
			b, err := fast.nextRaw(30 * time.Second)
			if err != nil {
				break
			}
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			ids = append(ids, fmt.Sprint(m["sample_id"]))
		}
		got <- ids
	}()
	for i := range n {
		mustPost(t, in, storedEvent(fmt.Sprintf("S%03d", i), "D", nil, "A", 64<<10), false)
		time.Sleep(20 * time.Millisecond)
	}
	ids := <-got
	if len(ids) != n {
		t.Fatalf("fast client got %d of %d messages", len(ids), n)
	}
	for i, id := range ids {
		if id != fmt.Sprintf("S%03d", i) {
			t.Fatalf("message %d is %s: order broken", i, id)
		}
	}
	if in.srv.Dropped() == 0 {
		t.Fatal("no message dropped for the slow client")
	}
	waitFor(t, 10*time.Second, func() bool { return in.srv.Clients() == 1 }, "slow client disconnected")
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShutdownClosesGoingAway(t *testing.T) {
	rdb := testenv.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, Deps{Config: testConfig(t), Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c, _ := dial(t, instance{srv, hs})

	cancel() // the process context ends: every socket gets 1001
	_, err = c.nextRaw(5 * time.Second)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("close status %v (%v), want 1001", websocket.CloseStatus(err), err)
	}
	srv.Close()
	if srv.Clients() != 0 {
		t.Fatalf("%d clients left after Close", srv.Clients())
	}
	// New connections are refused with 1001 too.
	conn, _, err := websocket.Dial(context.Background(), instance{srv, hs}.wsURL(), nil)
	if err != nil {
		t.Fatalf("dial after shutdown: %v", err)
	}
	if _, _, err = conn.Read(context.Background()); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after shutdown: %v, want close 1001", err)
	}
}

func TestLatestSampleOnConnect(t *testing.T) {
	db := testenv.DB(t)
	rdb := testenv.Redis(t)
	in := start(t, testConfig(t), rdb, db)

	// Empty table: no latest_sample, the next message is a broadcast.
	c, _ := dial(t, in)
	mustPost(t, in, storedEvent("S0", "D", nil, "A", 0), false)
	if m := c.next(5 * time.Second); m["type"] != typeSensorUpdate {
		t.Fatalf("with no sample, want sensor_update next, got %v", m)
	}

	ctx := context.Background()
	for _, r := range []struct {
		id, ts, grade string
		score         float64
	}{
		{"LL-261127-0001-001", "2026-11-27T07:00:00Z", "B", 0.65},
		{"LL-261127-0001-002", "2026-11-27T08:00:00.123456Z", "A", 0.8063076884853211},
		{"LL-261127-0001-003", "2026-11-27T06:00:00Z", "REJECT", 0.2},
	} {
		if _, err := db.Exec(ctx, `INSERT INTO sensor_samples (timestamp, device_id, sample_id, fusion_final_score,
			fusion_final_grade, fusion_is_compliant, vl53l8ch_grade) VALUES ($1, 'ESP32_LL_01', $2, $3, $4::text, $4::text <> 'REJECT', 'B')`,
			r.ts, r.id, r.score, r.grade); err != nil {
			t.Fatalf("insert sample: %v", err)
		}
	}
	c2, _ := dial(t, in)
	raw, err := c2.nextRaw(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), `{"type":"latest_sample","timestamp":"`) {
		t.Fatalf("latest_sample = %s", raw)
	}
	var msg struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		t.Fatal(err)
	}
	d := msg.Data
	if len(d) != 48 {
		t.Errorf("data has %d keys, want 45 + 3", len(d))
	}
	for k, want := range map[string]any{
		"sample_id": "LL-261127-0001-002", "device_id": "ESP32_LL_01", "final_score": 0.8063076884853211,
		"final_grade": "A", "fusion_final_grade": "A", "timestamp": "2026-11-27T08:00:00.123456+00:00",
		"time": "2026-11-27T08:00:00.123456+00:00", "vl53l8ch_grade": "B", "fusion_is_compliant": true,
	} {
		if d[k] != want {
			t.Errorf("data[%s] = %v, want %v", k, d[k], want)
		}
	}
}
