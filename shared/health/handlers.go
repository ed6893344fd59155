package health

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/resilience"
)

// Mount registers every probe on mux:
//
//	/healthz, /livez, /health/live  liveness (503 while shutting down)
//	/readyz, /health/ready          readiness from cached checks (503 when not_ready)
//	/startupz, /health/startup      startup (503 until setup finished)
//	/health                         legacy shape (sqal-contract §8)
//	/health/detailed                everything at once
//	/health/circuit-breakers        state of every resilience.Breaker (bn §4.4 shape)
func (r *Registry) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", r.Live)
	mux.HandleFunc("GET /livez", r.Live)
	mux.HandleFunc("GET /health/live", r.Live)
	mux.HandleFunc("GET /readyz", r.Ready)
	mux.HandleFunc("GET /health/ready", r.Ready)
	mux.HandleFunc("GET /startupz", r.Startup)
	mux.HandleFunc("GET /health/startup", r.Startup)
	mux.HandleFunc("GET /health", r.Legacy)
	mux.HandleFunc("GET /health/detailed", r.Detailed)
	mux.HandleFunc("GET /health/circuit-breakers", func(w http.ResponseWriter, _ *http.Request) {
		body := resilience.Snapshots()
		body["timestamp"] = now()
		httpapi.JSON(w, http.StatusOK, body)
	})
}

// Paths lists the paths Mount serves (the runtime exempts them from auth, rate
// limits and request metrics).
var Paths = []string{"/healthz", "/livez", "/health/live", "/readyz", "/health/ready",
	"/startupz", "/health/startup", "/health", "/health/detailed", "/health/circuit-breakers"}

func now() string { return httpapi.FormatTime(time.Now()) }

// liveness measures how fast a fresh goroutine gets scheduled: the Go analogue of
// bn's event-loop check, and what actually stalls when the process is wedged.
func liveness() map[string]any {
	start := time.Now()
	done := make(chan struct{})
	go func() { time.Sleep(time.Millisecond); close(done) }()
	status, msg := "alive", "Scheduler is responsive"
	select {
	case <-done:
	case <-time.After(time.Second):
		status, msg = "timeout", "Scheduler did not respond within 1s"
	}
	return map[string]any{"status": status, "message": msg, "latency_ms": ms(time.Since(start))}
}

// LiveBody returns the liveness status and body.
func (r *Registry) LiveBody() (int, map[string]any) {
	if r.ShuttingDown() {
		return http.StatusServiceUnavailable, map[string]any{"status": "unhealthy", "message": "Application is shutting down", "timestamp": now()}
	}
	loop := liveness()
	if loop["status"] != "alive" {
		return http.StatusServiceUnavailable, map[string]any{"status": "unhealthy", "message": "Some liveness checks failed",
			"checks": map[string]any{"event_loop": loop}, "timestamp": now()}
	}
	return http.StatusOK, map[string]any{"status": "healthy", "message": "Application is alive",
		"checks": map[string]any{"event_loop": loop}, "timestamp": now()}
}

// Live serves liveness.
func (r *Registry) Live(w http.ResponseWriter, _ *http.Request) {
	code, body := r.LiveBody()
	httpapi.JSON(w, code, body)
}

// ReadyBody returns the readiness status code and body (bn §4.1 shape).
func (r *Registry) ReadyBody() (int, map[string]any) {
	switch {
	case r.ShuttingDown():
		return http.StatusServiceUnavailable, map[string]any{"status": StatusNotReady, "message": "Application is shutting down", "timestamp": now()}
	case !r.Started():
		return http.StatusServiceUnavailable, map[string]any{"status": StatusNotReady, "message": "Application is still starting", "timestamp": now()}
	}
	checks := map[string]any{}
	for _, res := range r.Results() {
		checks[res.Name] = map[string]any{"status": res.Status, "message": res.Message, "latency_ms": ms(res.Latency),
			"checked_at": httpapi.FormatTime(res.CheckedAt)}
	}
	status := r.Readiness()
	code, msg := http.StatusOK, "Application is ready"
	switch status {
	case StatusDegraded:
		msg = "Application is ready (degraded performance)"
	case StatusNotReady:
		code, msg = http.StatusServiceUnavailable, "Some readiness checks failed"
	}
	return code, map[string]any{"status": status, "message": msg, "checks": checks, "timestamp": now()}
}

// Ready serves readiness from the cached results.
func (r *Registry) Ready(w http.ResponseWriter, _ *http.Request) {
	code, body := r.ReadyBody()
	httpapi.JSON(w, code, body)
}

// StartupBody returns the startup status code and body.
func (r *Registry) StartupBody() (int, map[string]any) {
	if p := r.startedAt.Load(); p != nil {
		return http.StatusOK, map[string]any{"status": "started", "message": "Application has successfully started",
			"uptime_seconds": math.Round(time.Since(r.createdAt).Seconds()*100) / 100, "started_at": httpapi.FormatTime(*p)}
	}
	return http.StatusServiceUnavailable, map[string]any{"status": "starting", "message": "Application is still starting up",
		"uptime_seconds": math.Round(time.Since(r.createdAt).Seconds()*100) / 100, "started_at": nil}
}

// Startup serves the startup probe.
func (r *Registry) Startup(w http.ResponseWriter, _ *http.Request) {
	code, body := r.StartupBody()
	httpapi.JSON(w, code, body)
}

// Details is the dependency summary behind /health, for handlers that report health
// in their own shape (sqal-api's /api/sqal/health reads DatabaseConnected).
type Details struct {
	Status             string // healthy | degraded | unhealthy
	Service            string
	AuthMode           string
	RowSecurity        string
	DatabaseConfigured bool
	DatabaseConnected  bool
	DatabaseError      string
	CacheConfigured    bool
	CacheConnected     bool
	CacheError         string
	Checks             []Result
}

// Details summarises the cached results: unhealthy when the database is down,
// degraded when only the cache (or another non-critical check) is down.
func (r *Registry) Details(_ context.Context) Details {
	d := Details{Status: "healthy", Service: r.Service, AuthMode: r.AuthMode, RowSecurity: r.RowSecurity, Checks: r.Results()}
	for _, res := range d.Checks {
		switch res.Name {
		case "database":
			d.DatabaseConfigured, d.DatabaseConnected = true, res.OK()
			if res.Err != nil {
				d.DatabaseError = res.Err.Error()
			}
		case "cache":
			d.CacheConfigured, d.CacheConnected = true, res.OK()
			if res.Err != nil {
				d.CacheError = res.Err.Error()
			}
		}
		if !res.OK() {
			if res.Critical {
				d.Status = "unhealthy"
			} else if d.Status == "healthy" {
				d.Status = "degraded"
			}
		}
	}
	return d
}

func connected(configured, ok bool) string {
	switch {
	case !configured:
		return "not_configured"
	case ok:
		return "connected"
	}
	return "disconnected"
}

// Legacy serves GET /health as sqal-contract §8 keeps it: 200
// {"status":"healthy","database":"connected","timestamp":...} (plus the additive keys
// service, cache, auth_mode), 503 {"detail":"Database error: <message>"} when the
// database is down; a cache outage answers 200 with status "degraded".
func (r *Registry) Legacy(w http.ResponseWriter, req *http.Request) {
	d := r.Details(req.Context())
	if d.DatabaseConfigured && !d.DatabaseConnected {
		httpapi.Detail(w, http.StatusServiceUnavailable, "Database error: "+d.DatabaseError)
		return
	}
	code := http.StatusOK
	if d.Status == "unhealthy" {
		code = http.StatusServiceUnavailable
	}
	body := map[string]any{
		"status":    d.Status,
		"database":  connected(d.DatabaseConfigured, d.DatabaseConnected),
		"cache":     connected(d.CacheConfigured, d.CacheConnected),
		"service":   d.Service,
		"auth_mode": d.AuthMode,
		"timestamp": now(),
	}
	if d.RowSecurity != "" {
		body["row_level_security"] = d.RowSecurity
	}
	httpapi.JSON(w, code, body)
}

// Detailed serves every probe's body at once.
func (r *Registry) Detailed(w http.ResponseWriter, _ *http.Request) {
	_, live := r.LiveBody()
	_, ready := r.ReadyBody()
	_, startup := r.StartupBody()
	status := "healthy"
	switch {
	case live["status"] != "healthy":
		status = "unhealthy"
	case ready["status"] == StatusNotReady:
		status = StatusNotReady
	case ready["status"] == StatusDegraded:
		status = StatusDegraded
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"status": status, "uptime_seconds": startup["uptime_seconds"],
		"startup": startup, "liveness": live, "readiness": ready, "timestamp": now()})
}
