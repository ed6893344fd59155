package station

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Config of a simulation run.
type Config struct {
	URL       string        // ws://host:port/ws/sensors/
	Devices   int           // stations, spread over Sites
	Sites     []string      // LL, LS, MT
	Rate      float64       // samples per second per station
	Duration  time.Duration // stop producing after this long (0: no limit)
	Count     int           // stop after this many samples in total (0: no limit)
	Profile   Profile
	Slim      bool   // leave out vl53l8ch_raw and as7341_raw
	Seed      uint64 // 0: random
	Window    int    // unacknowledged samples per station before it waits (legacy buffer: 100)
	Heartbeat time.Duration
	DeviceKey string        // sent as X-Device-Key when the ingest requires device auth
	Drain     time.Duration // after producing, how long to wait for the last acks
	// BackoffMin / BackoffMax space reconnection attempts (exponential, with jitter).
	BackoffMin, BackoffMax time.Duration
	// RetryDelay: a sample refused with a transient error (storage failure, rate limit)
	// is sent again after this delay.
	RetryDelay time.Duration
	Progress   io.Writer // live progress line (nil: none)
	Every      time.Duration
	// OnAck, when set, is called with every acknowledged sample id (status "saved", or
	// "duplicate" when dup), from the station's reading goroutine: the cluster rehearsal
	// (tools/rehearsal) checks that each sample acknowledged was stored.
	OnAck func(sampleID string, dup bool)
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.URL == "" {
		c.URL = "ws://localhost:8000/ws/sensors/"
	}
	if c.Devices <= 0 {
		c.Devices = 3
	}
	if len(c.Sites) == 0 {
		c.Sites = []string{"LL", "LS", "MT"}
	}
	if c.Rate <= 0 {
		c.Rate = 1
	}
	if c.Profile == "" {
		c.Profile = Mixed
	}
	if c.Window <= 0 {
		c.Window = 100
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 30 * time.Second
	}
	if c.Drain <= 0 {
		c.Drain = 10 * time.Second
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 500 * time.Millisecond
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = 10 * time.Second
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = time.Second
	}
	if c.Every <= 0 {
		c.Every = time.Second
	}
}

// Summary is what a run did.
type Summary struct {
	Sent       int64 // samples generated and sent once
	Resent     int64 // sends of an already sent sample (after a reconnect or a transient error)
	Acked      int64 // acks with status "saved"
	Duplicates int64 // acks with status "duplicate"
	Errors     int64 // error replies (validation: dropped; transient: resent)
	Rejected   int64 // samples refused for good (validation errors)
	Reconnects int64
	DialErrors int64
	Unacked    int64 // samples never acknowledged when the run ended
	Elapsed    time.Duration
	P50, P99   time.Duration // first send to ack
	Grades     map[string]int64
}

func (s Summary) String() string {
	grades := make([]string, 0, len(s.Grades))
	for _, g := range []string{"A+", "A", "B", "C", "REJECT"} {
		grades = append(grades, fmt.Sprintf("%s=%d", g, s.Grades[g]))
	}
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Acked+s.Duplicates) / s.Elapsed.Seconds()
	}
	return fmt.Sprintf("simulator: %d sent, %d acked (%d saved, %d duplicate), %d resent, %d error replies (%d rejected), "+
		"%d unacked, %d reconnects, %d dial errors in %s: %.1f acks/s, ack latency p50 %s p99 %s; sent grades %s",
		s.Sent, s.Acked+s.Duplicates, s.Acked, s.Duplicates, s.Resent, s.Errors, s.Rejected, s.Unacked, s.Reconnects,
		s.DialErrors, s.Elapsed.Round(time.Millisecond), rate, s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond),
		strings.Join(grades, " "))
}

type counters struct {
	sent, resent, acked, dup, errors, rejected, reconnects, dialErrors, unacked atomic.Int64
	mu                                                                          sync.Mutex
	latencies                                                                   []time.Duration
	grades                                                                      map[string]int64
}

// Run simulates cfg.Devices stations until the count or duration is reached (or ctx
// ends), then waits up to cfg.Drain for outstanding acks.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg.Defaults()
	if !strings.HasPrefix(cfg.URL, "ws://") && !strings.HasPrefix(cfg.URL, "wss://") {
		return Summary{}, fmt.Errorf("URL %q: must be ws:// or wss://", cfg.URL)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	c := &counters{grades: map[string]int64{}}
	var budget *atomic.Int64
	if cfg.Count > 0 {
		budget = new(atomic.Int64)
		budget.Store(int64(cfg.Count))
	}
	produceCtx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	if cfg.Duration > 0 {
		produceCtx, stopProducing = context.WithTimeout(ctx, cfg.Duration)
		defer stopProducing()
	}

	start := time.Now()
	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go func() {
		defer close(progressDone)
		progress(cfg, c, start, stopProgress)
	}()

	lotBase := int(seed % 10000)
	var wg sync.WaitGroup
	for i := range cfg.Devices {
		site := cfg.Sites[i%len(cfg.Sites)]
		dev := NewDevice(site, i/len(cfg.Sites)+1, lotBase+i*37)
		st := &station{cfg: cfg, dev: dev, c: c, budget: budget,
			rng: rand.New(rand.NewPCG(seed, uint64(i)+1)), pending: map[string]*pending{}, started: time.Now()}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.run(ctx, produceCtx)
		}()
	}
	wg.Wait()
	close(stopProgress)
	<-progressDone

	s := Summary{
		Sent: c.sent.Load(), Resent: c.resent.Load(), Acked: c.acked.Load(), Duplicates: c.dup.Load(),
		Errors: c.errors.Load(), Rejected: c.rejected.Load(), Reconnects: c.reconnects.Load(),
		DialErrors: c.dialErrors.Load(), Unacked: c.unacked.Load(), Elapsed: time.Since(start), Grades: c.grades,
	}
	c.mu.Lock()
	lat := slices.Clone(c.latencies)
	c.mu.Unlock()
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		s.P50, s.P99 = lat[n/2], lat[min(n-1, n*99/100)]
	}
	if err := ctx.Err(); err != nil && s.Sent == 0 {
		return s, err
	}
	return s, nil
}

func progress(cfg Config, c *counters, start time.Time, stop <-chan struct{}) {
	if cfg.Progress == nil {
		<-stop
		return
	}
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	var lastAcks int64
	last := start
	line := func(final bool) {
		acks := c.acked.Load() + c.dup.Load()
		now := time.Now()
		rate := float64(acks-lastAcks) / now.Sub(last).Seconds()
		if final {
			rate = float64(acks) / now.Sub(start).Seconds()
		}
		lastAcks, last = acks, now
		fmt.Fprintf(cfg.Progress, "\r\x1b[2Ksent %d  acked %d  dup %d  errors %d  unacked %d  reconnects %d  %.1f/s",
			c.sent.Load(), c.acked.Load(), c.dup.Load(), c.errors.Load(), c.unacked.Load(), c.reconnects.Load(), rate)
		if final {
			fmt.Fprintln(cfg.Progress)
		}
	}
	for {
		select {
		case <-stop:
			line(true)
			return
		case <-t.C:
			line(false)
		}
	}
}

type pending struct {
	id      string
	frame   []byte
	firstAt time.Time
	retryAt time.Time // zero: not waiting for a retry
	seq     int
}

// station is one simulated device: its connection, its unacknowledged samples.
type station struct {
	cfg     Config
	dev     *Device
	c       *counters
	budget  *atomic.Int64
	rng     *rand.Rand
	started time.Time

	mu      sync.Mutex
	pending map[string]*pending
	seq     int
	sentN   int
	reconns int
}

func (s *station) unackedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// run connects, produces until produceCtx ends (or the budget is spent), then drains.
func (s *station) run(ctx, produceCtx context.Context) {
	backoff := s.cfg.BackoffMin
	producing := true
	var drainDeadline time.Time
	first := true
	for ctx.Err() == nil {
		if !producing && (s.unackedCount() == 0 || time.Now().After(drainDeadline)) {
			break
		}
		conn, err := s.connect(ctx)
		if err != nil {
			s.c.dialErrors.Add(1)
			if !producing && time.Now().After(drainDeadline) {
				break
			}
			sleep(ctx, jitter(s.rng, backoff))
			backoff = min(2*backoff, s.cfg.BackoffMax)
			continue
		}
		backoff = s.cfg.BackoffMin
		if !first {
			s.c.reconnects.Add(1)
			s.reconns++
		}
		first = false
		producing, drainDeadline = s.session(ctx, produceCtx, conn, producing, drainDeadline)
	}
	s.mu.Lock()
	s.c.unacked.Add(int64(len(s.pending)))
	s.mu.Unlock()
}

func jitter(r *rand.Rand, d time.Duration) time.Duration {
	return d/2 + time.Duration(r.Int64N(int64(d)/2+1))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (s *station) connect(ctx context.Context) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{}
	if s.cfg.DeviceKey != "" {
		opts.HTTPHeader = http.Header{"X-Device-Key": []string{s.cfg.DeviceKey}}
	}
	conn, _, err := websocket.Dial(dctx, s.cfg.URL, opts)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", s.cfg.URL, err)
	}
	conn.SetReadLimit(32 << 20) // error replies echo the ~140 KB frame
	// Like the legacy simulator: wait at most 5 s for connection_established.
	_, b, err := conn.Read(dctx)
	if err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("wait for connection_established: %w", err)
	}
	var m struct{ Type string }
	if json.Unmarshal(b, &m) != nil || m.Type != "connection_established" {
		conn.CloseNow()
		return nil, fmt.Errorf("first frame is not connection_established: %.100s", b)
	}
	return conn, nil
}

type reply struct {
	Type     string          `json:"type"`
	SampleID string          `json:"sample_id"`
	Status   string          `json:"status"`
	Error    string          `json:"error"`
	Data     json.RawMessage `json:"data"`
}

// retryable tells a transient refusal (the station should send again) from a
// validation error (sending again cannot help).
func retryable(msg string) bool {
	return strings.HasPrefix(msg, "storage failure") || strings.HasPrefix(msg, "rate limit")
}

// session runs one connection until it fails or the station is done. It returns the
// producing state and drain deadline for the next connection.
func (s *station) session(ctx, produceCtx context.Context, conn *websocket.Conn, producing bool, drainDeadline time.Time) (bool, time.Time) {
	defer conn.CloseNow()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	write := func(b []byte) error {
		wctx, wcancel := context.WithTimeout(sctx, 10*time.Second)
		defer wcancel()
		return conn.Write(wctx, websocket.MessageText, b)
	}

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel()
		for {
			_, b, err := conn.Read(sctx)
			if err != nil {
				return
			}
			s.handleReply(b)
		}
	}()

	if err := write(s.dev.Hello(time.Now())); err != nil {
		return producing, drainDeadline
	}
	// A new connection sends again everything not acknowledged yet, oldest first.
	for _, p := range s.unackedInOrder(time.Time{}) {
		if err := write(p.frame); err != nil {
			return producing, drainDeadline
		}
		s.c.resent.Add(1)
	}

	interval := time.Duration(float64(time.Second) / s.cfg.Rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	hb := time.NewTicker(s.cfg.Heartbeat)
	defer hb.Stop()
	retry := time.NewTicker(s.cfg.RetryDelay / 2)
	defer retry.Stop()
	for {
		if producing && produceCtx.Err() != nil {
			producing, drainDeadline = false, time.Now().Add(s.cfg.Drain)
		}
		if !producing && (s.unackedCount() == 0 || time.Now().After(drainDeadline)) {
			_ = conn.Close(websocket.StatusNormalClosure, "done")
			<-readerDone
			return producing, drainDeadline
		}
		var drainTimer <-chan time.Time
		var produceDone <-chan struct{}
		if producing {
			produceDone = produceCtx.Done()
		} else {
			drainTimer = time.After(min(100*time.Millisecond, time.Until(drainDeadline)))
		}
		select {
		case <-sctx.Done():
			<-readerDone
			return producing, drainDeadline
		case <-produceDone:
			// loop: switches to draining
		case <-drainTimer:
		case <-hb.C:
			st := HeartbeatStats{MeasurementsSent: s.sentN, MeasurementsBuffered: s.unackedCount(),
				Reconnections: s.reconns, UptimeSeconds: int(time.Since(s.started).Seconds())}
			if err := write(s.dev.Heartbeat(time.Now(), st)); err != nil {
				return producing, drainDeadline
			}
		case now := <-retry.C:
			for _, p := range s.unackedInOrder(now) {
				if err := write(p.frame); err != nil {
					return producing, drainDeadline
				}
				s.c.resent.Add(1)
			}
		case <-tick.C:
			if !producing || s.unackedCount() >= s.cfg.Window {
				continue // backpressure: the station buffers instead of flooding
			}
			if s.budget != nil && s.budget.Add(-1) < 0 {
				producing, drainDeadline = false, time.Now().Add(s.cfg.Drain)
				continue
			}
			smp := s.dev.Generate(s.rng, s.cfg.Profile, time.Now(), s.cfg.Slim)
			s.mu.Lock()
			s.seq++
			s.pending[smp.ID] = &pending{id: smp.ID, frame: smp.JSON, firstAt: time.Now(), seq: s.seq}
			s.sentN++
			s.mu.Unlock()
			s.c.sent.Add(1)
			s.c.mu.Lock()
			s.c.grades[smp.FinalGrade]++
			s.c.mu.Unlock()
			if err := write(smp.JSON); err != nil {
				return producing, drainDeadline // stays pending: resent after reconnecting
			}
		}
	}
}

// unackedInOrder lists pending samples oldest first: all of them when due is zero
// (after a reconnect, clearing retry marks), else those whose retry time has come.
func (s *station) unackedInOrder(due time.Time) []*pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*pending
	for _, p := range s.pending {
		switch {
		case due.IsZero():
			p.retryAt = time.Time{}
			out = append(out, p)
		case !p.retryAt.IsZero() && !p.retryAt.After(due):
			p.retryAt = time.Time{}
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *pending) int { return a.seq - b.seq })
	return out
}

func (s *station) handleReply(b []byte) {
	var r reply
	if json.Unmarshal(b, &r) != nil {
		return
	}
	switch r.Type {
	case "ack":
		s.mu.Lock()
		p, ok := s.pending[r.SampleID]
		delete(s.pending, r.SampleID)
		s.mu.Unlock()
		if r.Status == "duplicate" {
			s.c.dup.Add(1)
		} else {
			s.c.acked.Add(1)
		}
		if s.cfg.OnAck != nil {
			s.cfg.OnAck(r.SampleID, r.Status == "duplicate")
		}
		if ok {
			s.c.mu.Lock()
			if len(s.c.latencies) < 1_000_000 {
				s.c.latencies = append(s.c.latencies, time.Since(p.firstAt))
			}
			s.c.mu.Unlock()
		}
	case "error":
		s.c.errors.Add(1)
		var echoed struct {
			SampleID string `json:"sample_id"`
		}
		if json.Unmarshal(r.Data, &echoed) != nil || echoed.SampleID == "" {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		p, ok := s.pending[echoed.SampleID]
		if !ok {
			return
		}
		if retryable(r.Error) {
			p.retryAt = time.Now().Add(s.cfg.RetryDelay)
			return
		}
		delete(s.pending, echoed.SampleID)
		s.c.rejected.Add(1)
	}
}
