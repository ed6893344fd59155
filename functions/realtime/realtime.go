// Package realtime is the /ws/realtime/ function: the dashboards' live feed (contract §4).
//
// Events reach it as CloudEvents (sqal.sample.stored, sqal.alert.raised,
// sqal.prediction.created) on POST /events, from a Knative Trigger. Whichever instance
// receives an event turns it into the client message once, deduplicates it by (source, id)
// with a short-lived Redis key (delivery is at least once), and publishes it on a Redis
// pub/sub channel. Every instance subscribes to that channel and fans the message out to
// its own WebSocket clients, so a dashboard attached to any instance sees every sample.
//
// Organisations: a dashboard sees the samples, alerts and predictions of the
// organisation scope its upgrade request was given by the auth middleware (every
// organisation for a super administrator, none without a scope). The organisation of a
// message is its event's organizationid extension (the default organisation without
// one); it travels with the message on the Redis channel and each instance filters per
// client. latest_sample is read in the client's scope (row-level security).
package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/tenant"
)

// Function is the realtime fan-out.
var Function = runtime.Function{
	Target:  "Realtime",
	Service: "realtime",
	Needs:   runtime.Needs{DB: true, Redis: true},
	HTTP:    setup,
}

func init() { runtime.Register(Function) }

// Config is the realtime function's own configuration.
type Config struct {
	// Channel is the Redis pub/sub channel shared by every realtime instance.
	Channel string `env:"REALTIME_CHANNEL, default=sqal:realtime"`
	// PingInterval: a client silent this long gets a "ping" message (contract: 30 s).
	PingInterval time.Duration `env:"REALTIME_PING_INTERVAL, default=30s"`
	// QueueSize bounds each client's send queue (messages; a sensor_update is ~13 KB).
	QueueSize int `env:"REALTIME_QUEUE_SIZE, default=128"`
	// SlowClientTimeout: a client that keeps overflowing its queue this long is disconnected.
	SlowClientTimeout time.Duration `env:"REALTIME_SLOW_CLIENT_TIMEOUT, default=10s"`
	// WriteTimeout bounds one WebSocket write; a client that cannot take a frame in this
	// time is disconnected.
	WriteTimeout time.Duration `env:"REALTIME_WRITE_TIMEOUT, default=10s"`
	// DedupeTTL is how long an event id is remembered to drop redeliveries.
	DedupeTTL time.Duration `env:"REALTIME_DEDUPE_TTL, default=10m"`
	// MaxClientFrame caps client -> server frames (they are tiny control messages).
	MaxClientFrame int64 `env:"REALTIME_MAX_CLIENT_FRAME_BYTES, default=65536"`
	// LatestSampleTimeout bounds the latest_sample query on connect.
	LatestSampleTimeout time.Duration `env:"REALTIME_LATEST_SAMPLE_TIMEOUT, default=3s"`
}

func (c *Config) validate() error {
	switch {
	case c.Channel == "":
		return errors.New("REALTIME_CHANNEL must not be empty")
	case c.PingInterval <= 0 || c.WriteTimeout <= 0 || c.DedupeTTL <= 0 || c.SlowClientTimeout <= 0:
		return errors.New("realtime durations must be positive")
	case c.QueueSize < 2:
		return errors.New("REALTIME_QUEUE_SIZE must be at least 2")
	}
	if c.MaxClientFrame <= 0 {
		c.MaxClientFrame = 65536
	}
	if c.LatestSampleTimeout <= 0 {
		c.LatestSampleTimeout = 3 * time.Second
	}
	return nil
}

func setup(ctx context.Context, env *runtime.Env) (http.Handler, error) {
	var cfg Config
	if err := config.Load(ctx, env.Lookup, &cfg); err != nil {
		return nil, fmt.Errorf("realtime: %w", err)
	}
	if env.Redis == nil {
		return nil, errors.New("realtime: Redis client required")
	}
	return New(ctx, Deps{Config: cfg, Redis: env.Redis, DB: env.DB, Logger: env.Logger, Meter: env.Meter})
}

// Deps is what New needs. DB may be nil (then no latest_sample is sent).
type Deps struct {
	Config Config
	Redis  redis.UniversalClient
	DB     *database.DB
	Logger *slog.Logger
	Meter  metric.Meter
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Server serves /ws/realtime/ and POST /events. It stops, closing every socket with 1001
// (going away), when the context given to New is cancelled or Close is called.
type Server struct {
	cfg     Config
	rdb     redis.UniversalClient
	db      *database.DB
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time
	mux     *http.ServeMux

	mu      sync.Mutex
	clients map[*client]struct{}
	conns   sync.WaitGroup

	shutdown  chan struct{}
	closeOnce sync.Once
	subDone   chan struct{}
}

// New subscribes to the fan-out channel (and waits until the subscription is active, so
// no event published after New returns is missed) and returns the server.
func New(ctx context.Context, d Deps) (*Server, error) {
	if err := d.Config.validate(); err != nil {
		return nil, fmt.Errorf("realtime: %w", err)
	}
	s := &Server{
		cfg:      d.Config,
		rdb:      d.Redis,
		db:       d.DB,
		log:      d.Logger,
		now:      d.Now,
		clients:  map[*client]struct{}{},
		shutdown: make(chan struct{}),
		subDone:  make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	m, err := newMetrics(d.Meter, s)
	if err != nil {
		return nil, fmt.Errorf("realtime: metrics: %w", err)
	}
	s.metrics = m

	ps := s.rdb.Subscribe(ctx, s.cfg.Channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("realtime: subscribe to %s: %w", s.cfg.Channel, err)
	}
	go s.fanOut(ps)
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.shutdown:
		}
	}()

	s.mux = http.NewServeMux()
	for _, rt := range s.routes() {
		s.mux.HandleFunc(rt.Method+" "+rt.Path, rt.Handler)
	}
	return s, nil
}

// route is one registered endpoint. The table is the single source of the mux
// registration and of the OpenAPI coverage test (openapi.yaml documents the public ones).
type route struct {
	Method  string
	Path    string // ServeMux pattern path ("{$}": that exact path, nothing below it)
	Handler http.HandlerFunc
}

func (s *Server) routes() []route {
	return []route{
		{"GET", "/ws/realtime/{$}", s.serveWS},
		{"GET", "/ws/realtime", s.serveWS},
		// The Broker's deliveries (Knative Triggers); not in the public route table.
		{"POST", "/events", s.serveEvent},
		{"POST", "/events/{$}", s.serveEvent},
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close stops the fan-out and closes every client socket with 1001, waiting (bounded by
// the close handshake timeout) until they are gone. Safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.shutdown) })
	<-s.subDone
	s.conns.Wait()
}

// Clients is the number of connected clients of this instance.
func (s *Server) Clients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Dropped is the number of messages dropped from slow clients' queues since start.
func (s *Server) Dropped() int64 { return s.metrics.drops.Load() }

func (s *Server) add(c *client) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.shutdown:
		return 0, false
	default:
	}
	s.clients[c] = struct{}{}
	s.conns.Add(1)
	return len(s.clients), true
}

func (s *Server) remove(c *client) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
	s.conns.Done()
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// Dashboards are served from other origins (legacy allowed any origin).
		InsecureSkipVerify: true,
	})
	if err != nil {
		return // Accept has answered the request
	}
	conn.SetReadLimit(s.cfg.MaxClientFrame)
	c := newClient(s, conn)
	c.scope, _ = tenant.From(r.Context()) // set by the auth middleware; none: sees nothing
	c.serverDown = runtime.ShuttingDown(r.Context())
	n, ok := s.add(c)
	if !ok {
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer s.remove(c)
	s.metrics.connected(r.Context(), 1)
	defer s.metrics.connected(context.Background(), -1)

	now := s.now()
	if err := c.write(r.Context(), mustJSON(welcomeFrame{typeConnectionEstablished, stamp(now), welcomeMessage, n})); err != nil {
		_ = conn.CloseNow()
		return
	}
	// Read in the client's scope (row-level security): its organisation's newest sample.
	if latest, err := s.latestSample(r.Context(), c.scope); err != nil {
		s.log.Warn("realtime: latest_sample unavailable", "err", err)
	} else if latest != nil {
		if err := c.write(r.Context(), mustJSON(dataFrame{typeLatestSample, stamp(s.now()), latest})); err != nil {
			_ = conn.CloseNow()
			return
		}
	}

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	<-writerDone
	_ = conn.CloseNow()
}

// broadcastTo delivers one fan-out message to every matching local client.
func (s *Server) broadcastTo(b *broadcast) {
	s.mu.Lock()
	targets := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		targets = append(targets, c)
	}
	s.mu.Unlock()
	m := outMsg{kind: b.Kind, data: b.Message}
	for _, c := range targets {
		if !c.allows(b) {
			continue
		}
		if !c.offer(m) {
			c.kick()
		}
	}
}
