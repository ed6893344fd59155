package realtime

import (
	"testing"
	"time"
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func testQueueServer(size int, slow time.Duration, now *time.Time) *Server {
	m, _ := newMetrics(nil, nil)
	return &Server{cfg: Config{QueueSize: size, SlowClientTimeout: slow}, metrics: m, now: func() time.Time { return *now }}
}

func kinds(c *client) string {
	out := ""
	for _, m := range c.queue {
		out += m.kind[:1] + string(m.data)
	}
	return out
}

func TestQueuePolicy(t *testing.T) {
	u, a, r, p := typeSensorUpdate, typeAlert, "reply", typePrediction
	cases := []struct {
		name  string
		fill  []outMsg
		add   outMsg
		want  string
		drops int64
	}{
		{"room left", []outMsg{{u, []byte("1")}}, outMsg{u, []byte("2")}, "s1s2", 0},
		{"drop oldest update", []outMsg{{a, []byte("1")}, {u, []byte("2")}, {u, []byte("3")}}, outMsg{u, []byte("4")}, "a1s3s4", 1},
		{"alert evicts oldest update", []outMsg{{u, []byte("1")}, {a, []byte("2")}, {u, []byte("3")}}, outMsg{a, []byte("4")}, "a2s3a4", 1},
		{"update before prediction", []outMsg{{p, []byte("1")}, {u, []byte("2")}, {r, []byte("3")}}, outMsg{r, []byte("4")}, "p1r3r4", 1},
		{"prediction evicted when no update", []outMsg{{a, []byte("1")}, {p, []byte("2")}, {r, []byte("3")}}, outMsg{r, []byte("4")}, "a1r3r4", 1},
		{"new update dropped when only alerts", []outMsg{{a, []byte("1")}, {r, []byte("2")}, {a, []byte("3")}}, outMsg{u, []byte("4")}, "a1r2a3", 1},
		{"only control: oldest goes", []outMsg{{a, []byte("1")}, {r, []byte("2")}, {a, []byte("3")}}, outMsg{r, []byte("4")}, "r2a3r4", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(0, 0)
			srv := testQueueServer(3, time.Second, &now)
			c := &client{srv: srv, notify: make(chan struct{}, 1)}
			for _, m := range tc.fill {
				if !c.offer(m) {
					t.Fatal("offer refused while filling")
				}
			}
			if !c.offer(tc.add) {
				t.Fatal("offer refused")
			}
			if got := kinds(c); got != tc.want {
				t.Fatalf("queue = %s, want %s", got, tc.want)
			}
			if got := srv.Dropped(); got != tc.drops {
				t.Fatalf("drops = %d, want %d", got, tc.drops)
			}
		})
	}
}

func TestQueueSlowClientDisconnected(t *testing.T) {
	now := time.Unix(0, 0)
	srv := testQueueServer(4, 5*time.Second, &now)
	c := &client{srv: srv, notify: make(chan struct{}, 1)}
	for range 4 {
		c.offer(outMsg{typeSensorUpdate, []byte("x")})
	}
	// Overflowing starts the clock; draining to half the queue stops it.
	if !c.offer(outMsg{typeSensorUpdate, []byte("x")}) {
		t.Fatal("first overflow must not disconnect")
	}
	now = now.Add(4 * time.Second)
	c.pop() // 3 left: still more than half full, clock keeps running
	c.offer(outMsg{typeSensorUpdate, []byte("x")})
	if !c.offer(outMsg{typeSensorUpdate, []byte("x")}) {
		t.Fatal("disconnected before the timeout")
	}
	now = now.Add(time.Second)
	if c.offer(outMsg{typeSensorUpdate, []byte("x")}) {
		t.Fatal("client overflowing for 5 s must be disconnected")
	}

	// A client that catches up (half empty) gets a fresh clock.
	now = time.Unix(100, 0)
	c2 := &client{srv: srv, notify: make(chan struct{}, 1)}
	for range 5 {
		c2.offer(outMsg{typeSensorUpdate, []byte("x")})
	}
	now = now.Add(4 * time.Second)
	c2.pop()
	c2.pop() // 2 left = half: reset
	c2.offer(outMsg{typeSensorUpdate, []byte("x")})
	c2.offer(outMsg{typeSensorUpdate, []byte("x")})
	now = now.Add(2 * time.Second)
	if !c2.offer(outMsg{typeSensorUpdate, []byte("x")}) {
		t.Fatal("client that drained must not be disconnected")
	}
}
