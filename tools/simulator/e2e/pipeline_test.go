package e2e

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sqalfn/sqal/functions/alerts"
	"github.com/sqalfn/sqal/functions/ingest"
	"github.com/sqalfn/sqal/functions/realtime"
	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/events/localbus"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
	"github.com/sqalfn/sqal/tools/simulator/station"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// repoDir is the workspace root (the folder holding go.work).
func repoDir(t *testing.T) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.work above the test")
		}
		dir = filepath.Dir(dir)
	}
}

type stack struct {
	ingest            *httptest.Server
	realtimeA, realtB *httptest.Server
}

func (s stack) wsURL(hs *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(hs.URL, "http") + path
}

// startStack mounts ingest, alerts and two realtime instances in process, with the
// outbox relay feeding the local bus that routes by the repository's Trigger files.
func startStack(t *testing.T) stack {
	t.Helper()
	db := testenv.DB(t)
	rdb := testenv.Redis(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	var icfg ingest.Config
	if err := config.Load(ctx, config.MapLookuper(nil), &icfg); err != nil {
		t.Fatal(err)
	}
	svc, err := ingest.New(ctx, ingest.Deps{Config: icfg, DB: db, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var rcfg realtime.Config
	if err := config.Load(ctx, config.MapLookuper(map[string]string{"REALTIME_CHANNEL": "sqal:e2e"}), &rcfg); err != nil {
		t.Fatal(err)
	}
	rtA, err := realtime.New(ctx, realtime.Deps{Config: rcfg, Redis: rdb, DB: database.NewDB(db), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	rtB, err := realtime.New(ctx, realtime.Deps{Config: rcfg, Redis: rdb, DB: database.NewDB(db), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	alertsHandler := runtime.EventHTTPHandler(events.Idempotent(db, alerts.Consumer, alerts.Handle),
		noop.NewTracerProvider().Tracer("e2e"), quiet())

	triggers, err := localbus.LoadTriggers(filepath.Join(repoDir(t), "knative", "triggers"))
	if err != nil {
		t.Fatal(err)
	}
	// Only realtime instance A is subscribed, as in the cluster where the Trigger
	// reaches one pod; B learns everything through Redis.
	bus, err := localbus.New(localbus.Options{Triggers: triggers, DB: db, Logger: quiet(),
		Handlers: map[string]http.Handler{"alerts": alertsHandler, "realtime": rtA}})
	if err != nil {
		t.Fatal(err)
	}
	relay := events.NewRelay(db, bus, events.RelayConfig{PollInterval: 50 * time.Millisecond}, quiet())
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		_ = relay.Run(ctx)
	}()

	st := stack{ingest: httptest.NewServer(svc), realtimeA: httptest.NewServer(anonymous(rtA)), realtB: httptest.NewServer(anonymous(rtB))}
	t.Cleanup(func() {
		st.ingest.CloseClientConnections()
		st.ingest.Close()
		cancel()
		<-relayDone
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = bus.Close(cctx)
		rtA.Close()
		rtB.Close()
		st.realtimeA.Close()
		st.realtB.Close()
		svc.Store().Wait()
	})
	return st
}

// anonymous gives the dashboards the scope the auth middleware gives the anonymous
// caller of the open mode: the default organisation, the one of the simulator's devices.
func anonymous(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), tenant.Org(tenant.DefaultOrganization))))
	})
}

type dashboard struct {
	t *testing.T
	c *websocket.Conn
}

func connect(t *testing.T, url string) *dashboard {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 24)
	t.Cleanup(func() { c.CloseNow() })
	d := &dashboard{t, c}
	if m := d.next(); m["type"] != "connection_established" {
		t.Fatalf("first message %v", m)
	}
	return d
}

func (d *dashboard) next() map[string]any {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, b, err := d.c.Read(ctx)
	if err != nil {
		d.t.Fatalf("dashboard read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		d.t.Fatal(err)
	}
	return m
}

// TestFixturesEndToEnd replays the captured frames over /ws/sensors/ and follows them to
// the alert rows and to a dashboard attached to the other realtime instance.
func TestFixturesEndToEnd(t *testing.T) {
	st := startStack(t)
	dash := connect(t, st.wsURL(st.realtB, "/ws/realtime/"))

	ctx := context.Background()
	conn, _, err := websocket.Dial(ctx, st.wsURL(st.ingest, "/ws/sensors/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 24)
	read := func() map[string]any {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, b, err := conn.Read(rctx)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	read() // connection_established
	for _, fx := range []string{fixtures.Hello, fixtures.Sample1, fixtures.Sample2} {
		if err := conn.Write(ctx, websocket.MessageText, fixtures.Load(t, fx)); err != nil {
			t.Fatal(err)
		}
		if m := read(); m["type"] == "error" {
			t.Fatalf("%s: %v", fx, m["error"])
		}
	}

	// The dashboard on instance B sees both samples in store order, then the two
	// alerts of sample-2 (their order between the alert messages is the rules' order).
	var got []string
	for len(got) < 4 {
		m := dash.next()
		switch m["type"] {
		case "sensor_update":
			got = append(got, "sensor_update "+m["sample_id"].(string))
		case "alert":
			data := m["data"].(map[string]any)
			got = append(got, "alert "+data["alert_type"].(string)+" "+data["message"].(string))
			if p := m["payload"].(map[string]any); p["title"] != data["alert_type"] || p["source"] != "ESP32_DEMO_MT_01" {
				t.Fatalf("alert payload %v", p)
			}
		}
	}
	want := []string{
		"sensor_update MG-261127-1895-033",
		"sensor_update MG-261127-6331-083",
		"alert quality_critical Score qualité critique: 0.36 (seuil: 0.40)",
		"alert grade_reject Échantillon REJETÉ - Non conforme qualité",
	}
	// The alerts step runs beside realtime: an alert may overtake the second sample's
	// update, but samples keep their store order and alerts their rules' order.
	only := func(xs []string, prefix string) string {
		var out []string
		for _, x := range xs {
			if strings.HasPrefix(x, prefix) {
				out = append(out, x)
			}
		}
		return strings.Join(out, "\n")
	}
	for _, kind := range []string{"sensor_update", "alert"} {
		if only(got, kind) != only(want, kind) {
			t.Fatalf("dashboard got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// A new dashboard starts with the newest sample.
	late := connect(t, st.wsURL(st.realtimeA, "/ws/realtime"))
	if m := late.next(); m["type"] != "latest_sample" || m["data"].(map[string]any)["sample_id"] != "MG-261127-6331-083" {
		t.Fatalf("latest_sample = %v", m)
	}
}

// TestSimulatorEndToEnd drives the stack with the station simulator: every sample is
// acknowledged, stored and shown once on a dashboard of the other instance.
func TestSimulatorEndToEnd(t *testing.T) {
	st := startStack(t)
	dash := connect(t, st.wsURL(st.realtB, "/ws/realtime/"))
	const n = 24
	sum, err := station.Run(context.Background(), station.Config{URL: st.wsURL(st.ingest, "/ws/sensors/"),
		Devices: 3, Rate: 20, Count: n, Slim: true, Seed: 11, Profile: station.Normal, Drain: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Acked != n {
		t.Fatalf("summary %s", sum)
	}
	seen := map[string]bool{}
	for len(seen) < n {
		m := dash.next()
		if m["type"] != "sensor_update" {
			continue
		}
		id := m["sample_id"].(string)
		if seen[id] {
			t.Fatalf("sample %s shown twice", id)
		}
		seen[id] = true
	}
}
