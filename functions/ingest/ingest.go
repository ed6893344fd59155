// Package ingest is the ingestion function of the SQAL stations (contract §1):
// /ws/sensors/ (and /ws/sensors) for the ESP32 stations and the simulator,
// POST /api/ingest/samples for HTTP uploads (one frame or a JSON array) and
// POST /api/ingest/events for CloudEvents of type sqal.sample.upload. Every path runs
// the same steps: authenticate the device (optional), rate-limit it (optional), decode,
// validate and adapt the frame (shared/sample), then store the device upsert, the
// sample row and its sqal.sample.stored outbox event in one transaction, and reply.
//
// Lot resolution (§1.7): the row's lot_id is the frame's lot_id, else the lots_gavage
// row whose code_lot the device sent (demo branch). The QR step's further fallback (the
// site's most recently updated lot) belongs to the traceability consumer of
// sqal.sample.stored, which gets lot_id, code_lot and site_code in the event.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/tenant"
)

// Function is the ingest function.
var Function = runtime.Function{
	Target:  "Ingest",
	Service: "ingest",
	Needs:   runtime.Needs{DB: true, Redis: true, Outbox: true},
	HTTP:    setup,
}

// Config is the ingest function's own configuration.
type Config struct {
	// DeviceAuth: "on" requires a valid per-device key (X-Device-Key header, or
	// ?device_key= on the WebSocket); "off" (default, local demo) accepts any device.
	DeviceAuth string `env:"INGEST_DEVICE_AUTH, default=off"`
	// DeviceKeyCacheTTL: how long a verified key is trusted without asking the
	// database again (a revoked key keeps working at most this long).
	DeviceKeyCacheTTL time.Duration `env:"INGEST_DEVICE_KEY_CACHE_TTL, default=30s"`
	// DeviceOrgCacheTTL: how long the organisation of a device is remembered without
	// asking the database again (without device keys; see tenancy.go). A device moved
	// to another organisation keeps storing into the old one at most this long.
	DeviceOrgCacheTTL time.Duration `env:"INGEST_DEVICE_ORG_CACHE_TTL, default=60s"`
	// RateLimit: samples per second per device, shared by all instances through Redis
	// (0 = off, the default). RateBurst: samples allowed at once (0 = max(1, rate)).
	RateLimit float64 `env:"INGEST_RATE_LIMIT, default=0"`
	RateBurst int     `env:"INGEST_RATE_BURST, default=0"`
	// ReadLimit is the largest WebSocket frame / HTTP sample accepted (legacy: 16 MiB).
	ReadLimit int64 `env:"INGEST_READ_LIMIT, default=16777216"`
	// MaxBody caps an HTTP upload body (a batch of frames).
	MaxBody int64 `env:"INGEST_MAX_BODY, default=67108864"`
	// FrameQueue: frames read ahead per connection while earlier ones are processed.
	FrameQueue int `env:"INGEST_FRAME_QUEUE, default=4"`
	// ReplyQueue: samples in flight per connection (validated, waiting for commit).
	ReplyQueue int `env:"INGEST_REPLY_QUEUE, default=16"`
	// WriteTimeout bounds one reply write; a peer that takes no data for this long is
	// disconnected (see ws.go about the legacy simulator).
	WriteTimeout time.Duration `env:"INGEST_WRITE_TIMEOUT, default=10s"`
	// StoreWorkers commit groups concurrently (keep <= the DB pool size).
	StoreWorkers int `env:"INGEST_STORE_WORKERS, default=4"`
	// MaxGroup: samples committed together at most (group commit).
	MaxGroup int `env:"INGEST_MAX_GROUP, default=32"`
	// StoreTimeout bounds one storage transaction.
	StoreTimeout time.Duration `env:"INGEST_STORE_TIMEOUT, default=5s"`
	// CacheBumpInterval is the most often ingest invalidates the read APIs' cached
	// aggregates (sqalread generation). Once per stored sample would make the cache
	// useless under load; once a second keeps dashboards (polling every 5 s) current.
	CacheBumpInterval time.Duration `env:"INGEST_CACHE_BUMP_INTERVAL, default=1s"`
}

func (c *Config) validate() error {
	switch {
	case c.DeviceAuth != "on" && c.DeviceAuth != "off":
		return fmt.Errorf("INGEST_DEVICE_AUTH must be on or off, not %q", c.DeviceAuth)
	case c.RateLimit < 0 || c.RateBurst < 0:
		return errors.New("INGEST_RATE_LIMIT and INGEST_RATE_BURST must not be negative")
	case c.ReadLimit < 1<<20:
		return errors.New("INGEST_READ_LIMIT must be at least 1 MiB (contract §1.1)")
	case c.FrameQueue < 1 || c.ReplyQueue < 1 || c.StoreWorkers < 1 || c.MaxGroup < 1:
		return errors.New("INGEST queue, worker and group sizes must be at least 1")
	case c.WriteTimeout <= 0 || c.StoreTimeout <= 0 || c.DeviceKeyCacheTTL < 0 || c.DeviceOrgCacheTTL < 0:
		return errors.New("INGEST timeouts must be positive")
	}
	return nil
}

func setup(ctx context.Context, env *runtime.Env) (http.Handler, error) {
	var cfg Config
	if err := config.Load(ctx, env.Lookup, &cfg); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if env.DB == nil {
		return nil, errors.New("ingest: database required")
	}
	return New(ctx, Deps{Config: cfg, DB: env.DB, Redis: env.Redis, Logger: env.Logger, Meter: env.Meter})
}

// Deps is what New needs. Redis is required only with a rate limit.
type Deps struct {
	Config Config
	DB     DB // the function's *database.DB
	Redis  redis.UniversalClient
	Logger *slog.Logger
	Meter  metric.Meter
}

// Service serves the ingest endpoints. Its store workers stop when the context given
// to New ends; open WebSockets are closed then.
type Service struct {
	ctx     context.Context
	cfg     Config
	log     *slog.Logger
	store   *Store
	auth    *deviceAuth
	orgs    *deviceOrgs
	limit   *deviceLimiter
	metrics *metrics
	mux     *http.ServeMux
}

// New builds the service and starts its store workers.
func New(ctx context.Context, d Deps) (*Service, error) {
	if err := d.Config.validate(); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(d.Meter)
	if err != nil {
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	s := &Service{ctx: ctx, cfg: d.Config, log: log, metrics: m}
	s.store = NewStore(ctx, d.DB, log, d.Config.StoreWorkers, d.Config.MaxGroup, d.Config.StoreTimeout)
	s.store.onStored = m.stored
	s.store.onCommit = m.committed
	if d.Redis != nil {
		bump := newGenerationBumper(ctx, d.Redis, d.Config.CacheBumpInterval, log)
		s.store.onStored = func(n int) {
			m.stored(n)
			if n > 0 {
				bump.touch()
			}
		}
	}
	s.auth = &deviceAuth{on: d.Config.DeviceAuth == "on", db: d.DB, ttl: d.Config.DeviceKeyCacheTTL, cache: map[[32]byte]cachedKey{}}
	s.orgs = newDeviceOrgs(d.DB, d.Config.DeviceOrgCacheTTL, d.Config.StoreTimeout)
	if d.Config.RateLimit > 0 {
		if d.Redis == nil {
			return nil, errors.New("ingest: INGEST_RATE_LIMIT needs Redis (REDIS_URL)")
		}
		s.limit = newDeviceLimiter(d.Redis, log, d.Config.RateLimit, d.Config.RateBurst)
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.Method+" "+rt.Path, rt.Handler)
	}
	s.mux = mux
	return s, nil
}

// route is one registered endpoint. The table is the single source of the mux
// registration and of the OpenAPI coverage test (openapi.yaml documents exactly these).
type route struct {
	Method  string
	Path    string // ServeMux pattern path; "/ws/sensors/" is the contract's spelling (§1.1)
	Handler http.HandlerFunc
}

func (s *Service) routes() []route {
	return []route{
		{"GET", "/ws/sensors/", s.serveWS},
		{"GET", "/ws/sensors", s.serveWS},
		{"POST", "/api/ingest/samples", s.serveSamples},
		{"POST", "/api/ingest/events", s.serveEvents},
	}
}

// ServeHTTP implements http.Handler.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Store returns the service's store (tests, the benchmark).
func (s *Service) Store() *Store { return s.store }

// prepare runs everything a sample needs before the database: device check, rate
// limit, validation, the device's organisation, raw_message encoding, column values and
// the outbox event.
func (s *Service) prepare(ctx context.Context, device string, f *sample.Frame) (*Pending, error) {
	smp, err := f.Sample()
	if err != nil {
		return nil, err
	}
	if err := s.checkDevice(device, smp.DeviceID, true); err != nil {
		return nil, err
	}
	if err := s.allow(ctx, smp.DeviceID); err != nil {
		return nil, err
	}
	org, err := s.organizationOf(ctx, smp.DeviceID)
	if err != nil {
		return nil, err
	}
	// raw_message, and the seal over the frame as stored (sample.Seal): both use the
	// histogram the decoder quantised.
	raw, enc := smp.EncodeRaw(getRawBuf())
	smp.Seal(time.Now())
	e, err := newStoredEvent(ctx, smp)
	if err != nil {
		return nil, err
	}
	// The store's transaction is cross-organisation, so the outbox stamps nothing:
	// consumers act in the organisation named here.
	e.SetExtension(tenant.EventExtension, org)
	ob, err := events.NewOutboxRow(ctx, e)
	if err != nil {
		return nil, err
	}
	return &Pending{Sample: smp, Row: smp.Row(raw, enc), Outbox: ob, Org: org, raw: raw}, nil
}

// rawPool recycles raw_message buffers (~13 KB per full frame) on the WebSocket path,
// where the writer knows when the store is done with them; other paths leave them to GC.
var rawPool = sync.Pool{New: func() any { return []byte(nil) }}

func getRawBuf() []byte { return rawPool.Get().([]byte)[:0] }

func putRawBuf(b []byte) {
	if b != nil && cap(b) <= 1<<20 {
		rawPool.Put(b[:0]) //nolint:staticcheck // a slice header per Put is fine here
	}
}
