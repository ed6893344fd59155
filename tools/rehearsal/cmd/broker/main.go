// Command broker is the Knative Broker of the cluster rehearsal (tools/rehearsal): one
// process that takes CloudEvents at its ingress (BROKER_URL / K_SINK of the functions)
// and delivers them over HTTP to the function processes, applying the same Trigger
// files as the cluster (knative/triggers: filters, retries, backoff, per-attempt
// timeout, dead-letter sink). It is shared/events/localbus with HTTP-forwarding
// handlers instead of in-process ones.
//
// The producers write their events to the transactional outbox and relay it
// themselves while they run (shared/runtime, Needs.Outbox), over HTTP to this ingress;
// the relay function, woken by the outbox-relay PingSource, is the safety net. This
// process plays that PingSource at BROKER_PING_INTERVAL (instead of every minute).
// BROKER_RELAY=true also runs a relay loop here, for producers built without one; all
// relays claim outbox rows with SKIP LOCKED.
//
// GET /stats answers the bus counters (JSON) for the rehearsal's summary.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/events/localbus"
	"github.com/sqalfn/sqal/shared/runtime"
)

// Config of the broker process.
type Config struct {
	Server   config.Server
	Database config.Database
	Relay    events.RelayConfig
	// TriggersDir holds the Knative Trigger files (knative/triggers).
	TriggersDir string `env:"BROKER_TRIGGERS_DIR, required"`
	// ServiceURLs is where each Knative Service answers ("alerts=http://127.0.0.1:9001,...").
	ServiceURLs map[string]string `env:"BROKER_SERVICE_URLS, separator=="`
	// Workers delivers each Trigger's events with this many goroutines.
	Workers int `env:"BROKER_WORKERS, default=1"`
	// RunRelay also relays the outbox continuously from this process.
	RunRelay bool `env:"BROKER_RELAY, default=false"`
	// PingInterval sends the outbox-relay PingSource's event to the relay service this
	// often (0: never).
	PingInterval time.Duration `env:"BROKER_PING_INTERVAL, default=0"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	context.AfterFunc(ctx, stop) // a second signal kills at once
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", "broker")
	slog.SetDefault(logger)
	if err := realMain(ctx, logger); err != nil {
		logger.Error("broker failed", "error", err)
		fmt.Fprintln(os.Stderr, "broker:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, logger *slog.Logger) error {
	var cfg Config
	if err := config.Load(ctx, nil, &cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	db, err := database.Open(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()

	triggers, err := localbus.LoadTriggers(cfg.TriggersDir)
	if err != nil {
		return fmt.Errorf("load triggers: %w", err)
	}
	handlers := map[string]http.Handler{}
	for svc, raw := range cfg.ServiceURLs {
		target, err := url.Parse(raw)
		if err != nil || target.Scheme == "" || target.Host == "" {
			return fmt.Errorf("BROKER_SERVICE_URLS: bad URL %q for %s", raw, svc)
		}
		handlers[svc] = forwardTo(svc, target, logger)
	}
	bus, err := localbus.New(localbus.Options{Triggers: triggers, Handlers: handlers, DB: db,
		Logger: logger.With("component", "localbus"), Workers: cfg.Workers})
	if err != nil {
		return err
	}
	logger.Info("broker ready", "subscriptions", bus.Subscriptions(), "services", len(handlers))

	// Background loops end with ctx (SIGTERM), before the bus closes: nothing
	// publishes into a closed bus.
	var wg sync.WaitGroup
	if cfg.RunRelay {
		relay := events.NewRelay(db, bus, cfg.Relay, logger.With("component", "relay"))
		wg.Go(func() {
			if err := relay.Run(ctx); err != nil {
				logger.Error("outbox relay stopped", "error", err)
			}
		})
	}
	if relayURL, ok := cfg.ServiceURLs["relay"]; ok && cfg.PingInterval > 0 {
		wg.Go(func() { pingSource(ctx, relayURL, cfg.PingInterval, logger) })
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(bus.Stats())
	})
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /readyz", ok)
	mux.Handle("/", bus) // the ingress: POST a CloudEvent at any path (/sqal/default)

	serveErr := runtime.Serve(ctx, cfg.Server, mux)
	wg.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	closeErr := bus.Close(cctx)
	logger.Info("broker stopped", "stats", fmt.Sprintf("%+v", bus.Stats()))
	return errors.Join(serveErr, closeErr)
}

// forwardTo delivers the bus's in-process requests to a function process over HTTP.
// A function that is down answers 502 here, which the bus retries like Knative does
// for a network error.
func forwardTo(service string, target *url.URL, logger *slog.Logger) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.Warn("delivery failed", "service", service, "path", r.URL.Path, "error", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

// pingSource plays knative/sources/outbox-relay.yaml: a dev.knative.sources.ping event
// with {"task":"outbox"} to the relay service, every interval instead of every minute.
func pingSource(ctx context.Context, relayURL string, every time.Duration, logger *slog.Logger) {
	client := &http.Client{Timeout: 30 * time.Second}
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, relayURL, bytes.NewReader([]byte(`{"task":"outbox"}`)))
		if err != nil {
			logger.Error("ping: build request", "error", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Id", "rehearsal-ping-"+strconv.Itoa(n))
		req.Header.Set("Ce-Source", "/apis/v1/namespaces/sqal/pingsources/outbox-relay")
		req.Header.Set("Ce-Type", "dev.knative.sources.ping")
		res, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("ping not delivered", "error", err)
			}
			continue
		}
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			logger.Warn("ping refused", "status", res.StatusCode)
		}
	}
}
