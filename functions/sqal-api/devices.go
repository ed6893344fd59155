package sqalapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/sqalread"
)

type stamp = httpapi.Timestamp

// healthResponse is HealthCheckResponse (contract §5.2).
type healthResponse struct {
	Status               string   `json:"status"`
	Timestamp            stamp    `json:"timestamp"`
	ActiveDevices        int64    `json:"active_devices"`
	LastSampleAgeSeconds *float64 `json:"last_sample_age_seconds"`
	DatabaseConnected    bool     `json:"database_connected"`
}

// health is #1 GET /api/sqal/health: always 200, with the real status (the legacy
// naive/aware time subtraction bug made it "error" whenever a sample existed).
func (a *API) health(w http.ResponseWriter, r *http.Request) {
	now := a.now()
	resp := healthResponse{Status: "error", Timestamp: stamp(now)}
	var newest *time.Time
	err := a.db.QueryRow(r.Context(), `SELECT
  (SELECT count(*) FROM sqal_devices WHERE COALESCE(status, 'active') = 'active'),
  (SELECT max("timestamp") FROM sensor_samples)`).Scan(&resp.ActiveDevices, &newest)
	if err != nil {
		a.log.WarnContext(r.Context(), "sqal health: database unreachable", "error", err)
		resp.ActiveDevices = 0
		httpapi.JSON(w, http.StatusOK, resp)
		return
	}
	resp.DatabaseConnected = true
	if newest != nil {
		age := now.Sub(*newest).Seconds()
		resp.LastSampleAgeSeconds = &age
		switch {
		case age > 3600:
			resp.Status = "error"
		case age > 300:
			resp.Status = "degraded"
		default:
			resp.Status = "ok"
		}
	}
	httpapi.JSON(w, http.StatusOK, resp)
}

type devicesResponse struct {
	Devices []*sqalread.DeviceDB `json:"devices"`
	Total   int                  `json:"total"`
}

// devices is #2 GET /api/sqal/devices. Devices without a stored name are listed under
// their id (legacy emptied the whole list as soon as one name was NULL).
func (a *API) devices(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	site := p.Query("site_code").OptString()
	status := p.Query("status").OptString()
	if !p.Check(w) {
		return
	}
	rows, err := a.db.Query(r.Context(), `SELECT `+sqalread.DeviceColumns+` FROM sqal_devices
WHERE ($1::text IS NULL OR site_code = $1) AND ($2::text IS NULL OR COALESCE(status, 'active') = $2)
ORDER BY COALESCE(device_name, device_id), device_id`, site, status)
	if err != nil {
		a.fail(w, r, fmt.Errorf("list devices: %w", err))
		return
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sqalread.DeviceDB, error) {
		return sqalread.ScanDevice(row)
	})
	if err != nil {
		a.fail(w, r, fmt.Errorf("list devices: %w", err))
		return
	}
	if list == nil {
		list = []*sqalread.DeviceDB{}
	}
	httpapi.JSON(w, http.StatusOK, devicesResponse{Devices: list, Total: len(list)})
}

type stats24h struct {
	TotalSamples    int64   `json:"total_samples"`
	AvgQualityScore float64 `json:"avg_quality_score"`
}

type deviceResponse struct {
	Device       *sqalread.DeviceDB   `json:"device"`
	LatestSample *sqalread.SampleDict `json:"latest_sample"`
	HourlyStats  []hourlyStat         `json:"hourly_stats"`
	Stats24h     stats24h             `json:"stats_24h"`
}

// device is #3 GET /api/sqal/devices/{device_id}: 404 only when the device is absent.
func (a *API) device(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("device_id")
	ctx := r.Context()
	d, err := sqalread.DeviceByID(ctx, a.db, id)
	if errors.Is(err, sqalread.ErrNoDevice) {
		httpapi.Detail(w, http.StatusNotFound, fmt.Sprintf("Device %s introuvable", id))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	resp := deviceResponse{Device: d}
	resp.LatestSample, err = sqalread.LatestSampleOf(ctx, a.db, id)
	if err != nil && !errors.Is(err, sqalread.ErrNoSample) {
		a.fail(w, r, err)
		return
	}
	now := a.now()
	resp.HourlyStats, err = a.loadHourly(ctx, newSpan(now.Add(-24*time.Hour), now), &id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var sum float64
	for _, h := range resp.HourlyStats {
		resp.Stats24h.TotalSamples += h.SampleCount
		sum += h.AvgQualityScore * float64(h.SampleCount)
	}
	if resp.Stats24h.TotalSamples > 0 {
		resp.Stats24h.AvgQualityScore = sum / float64(resp.Stats24h.TotalSamples)
	}
	httpapi.JSON(w, http.StatusOK, resp)
}

// latestSample is #4 GET /api/sqal/samples/latest.
func (a *API) latestSample(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	dev := p.Query("device_id").String("")
	if !p.Check(w) {
		return
	}
	s, err := sqalread.LatestSampleOf(r.Context(), a.db, dev)
	if errors.Is(err, sqalread.ErrNoSample) {
		httpapi.Detail(w, http.StatusNotFound, "Aucun échantillon trouvé")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, s)
}

// timeRange reads start_time / end_time with the endpoint's default length.
func (a *API) timeRange(p *httpapi.ParamSet, def time.Duration) (time.Time, time.Time) {
	end := p.Query("end_time").Time(a.now())
	start := p.Query("start_time").Time(end.Add(-def))
	return start, end
}

// samples is #5 GET /api/sqal/samples: newest first, at most limit (1..1000).
func (a *API) samples(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	start, end := a.timeRange(p, 24*time.Hour)
	dev := p.Query("device_id").OptString()
	limit := p.Query("limit").Int(100, httpapi.Ge(1), httpapi.Le(1000))
	if !p.Check(w) {
		return
	}
	// Two statements rather than "$3 IS NULL OR device_id = $3", so that each keeps
	// its own index plan once pgx's prepared statement goes generic.
	q, args := `SELECT `+sqalread.SampleColumns+` FROM sensor_samples
WHERE "timestamp" BETWEEN $1 AND $2 ORDER BY "timestamp" DESC, sample_id DESC LIMIT $3`, []any{start, end, limit}
	if dev != nil {
		q, args = `SELECT `+sqalread.SampleColumns+` FROM sensor_samples
WHERE "timestamp" BETWEEN $1 AND $2 AND device_id = $4 ORDER BY "timestamp" DESC, sample_id DESC LIMIT $3`, append(args, *dev)
	}
	rows, err := a.db.Query(r.Context(), q, args...)
	if err != nil {
		a.fail(w, r, fmt.Errorf("list samples: %w", err))
		return
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*sqalread.SampleDict, error) {
		return sqalread.ScanSample(row)
	})
	if err != nil {
		a.fail(w, r, fmt.Errorf("list samples: %w", err))
		return
	}
	// Written by hand: up to 1,000 samples with their matrices, and json.Marshal would
	// re-validate every byte of them (see sqalread.AppendSamples).
	b := make([]byte, 0, 2048*(len(list)+1))
	b = append(b, `{"samples":`...)
	b = sqalread.AppendSamples(b, list)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(len(list)), 10)
	p0, _ := json.Marshal(period{stamp(start), stamp(end)})
	b = append(b, `,"period":`...)
	b = append(b, p0...)
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
