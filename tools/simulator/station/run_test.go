package station_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sqalfn/sqal/functions/ingest"
	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/testenv"
	"github.com/sqalfn/sqal/tools/simulator/station"
)

func wsURL(s *httptest.Server) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/ws/sensors/"
}

// TestAgainstIngest runs stations against the real ingest function and checks that
// every sample is acknowledged and stored, with its device.
func TestAgainstIngest(t *testing.T) {
	db := testenv.DB(t)
	var cfg ingest.Config
	if err := config.Load(context.Background(), config.MapLookuper(nil), &cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := ingest.New(ctx, ingest.Deps{Config: cfg, DB: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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

	for _, tc := range []struct {
		name    string
		slim    bool
		profile station.Profile
		seed    uint64
	}{
		{"full mixed", false, station.Mixed, 1},
		{"slim defective", true, station.Defective, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var progress strings.Builder
			sum, err := station.Run(context.Background(), station.Config{
				URL: wsURL(srv), Devices: 3, Rate: 40, Count: 30, Profile: tc.profile, Slim: tc.slim, Seed: tc.seed,
				Progress: &syncWriter{w: &progress}, Every: 50 * time.Millisecond, Drain: time.Minute, // ends as soon as all are acked
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Log(sum)
			if sum.Sent != 30 || sum.Acked != 30 || sum.Errors != 0 || sum.Unacked != 0 || sum.Duplicates != 0 {
				t.Fatalf("summary: %s", sum)
			}
			if !strings.Contains(progress.String(), "sent 30  acked 30") {
				t.Fatalf("progress line: %q", progress.String())
			}
		})
	}
	var samples, devices int
	if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT device_id) FROM sensor_samples`).Scan(&samples, &devices); err != nil {
		t.Fatal(err)
	}
	if samples != 60 || devices != 3 {
		t.Fatalf("stored %d samples of %d devices, want 60 of 3", samples, devices)
	}
	var sites string
	if err := db.QueryRow(ctx, `SELECT string_agg(device_id || '=' || site_code, ',' ORDER BY device_id) FROM sqal_devices WHERE device_id LIKE 'ESP32_DEMO_%'`).Scan(&sites); err != nil {
		t.Fatal(err)
	}
	if sites != "ESP32_DEMO_LL_01=LL,ESP32_DEMO_LS_01=LS,ESP32_DEMO_MT_01=MT" {
		t.Fatalf("devices: %s", sites)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// flakyStation is an ingest stand-in that provokes what the real one cannot on demand:
// it drops the connection after every few samples without acknowledging the last one,
// and answers some samples with a transient storage failure first.
type flakyStation struct {
	mu       sync.Mutex
	seen     map[string]int // sample_id -> times received
	frames   atomic.Int64
	failNext atomic.Int64
}

func (f *flakyStation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 24)
	ctx := r.Context()
	_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_established","message":"Connecté au backend SQAL"}`))
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return
		}
		var m struct {
			Type     string `json:"type"`
			SampleID string `json:"sample_id"`
		}
		_ = json.Unmarshal(b, &m)
		if m.Type != "sensor_data" {
			continue
		}
		f.mu.Lock()
		f.seen[m.SampleID]++
		first := f.seen[m.SampleID] == 1
		f.mu.Unlock()
		n := f.frames.Add(1)
		if n%7 == 0 {
			return // link lost before the ack
		}
		if n%5 == 0 && first {
			_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"error","error":"storage failure: connection refused","data":{"sample_id":"`+m.SampleID+`"}}`))
			continue
		}
		status := "saved"
		if !first {
			status = "duplicate"
		}
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"ack","sample_id":"`+m.SampleID+`","status":"`+status+`"}`))
	}
}

func TestReconnectsAndResends(t *testing.T) {
	f := &flakyStation{seen: map[string]int{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	sum, err := station.Run(context.Background(), station.Config{
		URL: wsURL(srv), Devices: 2, Rate: 100, Count: 40, Slim: true, Seed: 7,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, RetryDelay: 50 * time.Millisecond,
		Drain: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum)
	if sum.Sent != 40 || sum.Unacked != 0 || sum.Reconnects == 0 || sum.Resent == 0 || sum.Errors == 0 || sum.Rejected != 0 {
		t.Fatalf("summary: %s", sum)
	}
	if got := sum.Acked + sum.Duplicates; got < 40 {
		t.Fatalf("%d acks for 40 samples", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != 40 {
		t.Fatalf("server saw %d distinct samples, want 40", len(f.seen))
	}
}

func TestValidationErrorsAreNotResent(t *testing.T) {
	var frames atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 24)
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"connection_established"}`))
		for {
			_, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if strings.Contains(string(b), `"sensor_data"`) {
				frames.Add(1)
				_ = c.Write(r.Context(), websocket.MessageText,
					[]byte(`{"type":"error","error":"validation failed: fusion.final_score: must be <= 1","data":`+string(b)+`}`))
			}
		}
	}))
	defer srv.Close()
	sum, err := station.Run(context.Background(), station.Config{URL: wsURL(srv), Devices: 1, Rate: 100, Count: 5, Slim: true,
		RetryDelay: 20 * time.Millisecond, Drain: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if sum.Rejected != 5 || sum.Unacked != 0 || frames.Load() != 5 {
		t.Fatalf("summary %s; server got %d frames", sum, frames.Load())
	}
}

func TestHelloFirstAndHeartbeats(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 24)
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"connection_established"}`))
		for {
			_, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			var m struct {
				Type     string `json:"type"`
				SampleID string `json:"sample_id"`
				DeviceID string `json:"device_id"`
			}
			_ = json.Unmarshal(b, &m)
			mu.Lock()
			kinds = append(kinds, m.Type)
			mu.Unlock()
			if m.Type == "sensor_data" {
				_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"ack","status":"saved","sample_id":"`+m.SampleID+`"}`))
			}
		}
	}))
	defer srv.Close()
	sum, err := station.Run(context.Background(), station.Config{URL: wsURL(srv), Devices: 1, Rate: 20, Count: 8,
		Slim: true, Heartbeat: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kinds) == 0 || kinds[0] != "esp32_hello" {
		t.Fatalf("frames %v: want esp32_hello first", kinds)
	}
	var hb, data int
	for _, k := range kinds {
		switch k {
		case "heartbeat":
			hb++
		case "sensor_data":
			data++
		}
	}
	if data != 8 || hb < 3 || sum.Acked != 8 {
		t.Fatalf("%d sensor_data, %d heartbeats (want 8 and >= 3); %s", data, hb, sum)
	}
}
