package rehearsal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/alert"
	"github.com/sqalfn/sqal/shared/clusterenv"
	"github.com/sqalfn/sqal/shared/events/localbus"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/testenv"
	"github.com/sqalfn/sqal/tools/simulator/station"
)

// Scenario size; REHEARSAL_SAMPLES / _DEVICES / _RATE change it.
const (
	defaultSamples = 300
	defaultDevices = 4
	defaultRate    = 10 // samples per second per station
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// stats mirrors localbus.Stats as /stats of the broker answers it.
type busStats = localbus.Stats

func TestClusterRehearsal(t *testing.T) {
	root := repoRoot(t)
	work := filepath.Join(root, ".local", "rehearsal")
	logDir := filepath.Join(work, "logs")
	_ = os.RemoveAll(logDir)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	samples := envInt("REHEARSAL_SAMPLES", defaultSamples)
	devices := envInt("REHEARSAL_DEVICES", defaultDevices)
	rate := envInt("REHEARSAL_RATE", defaultRate)

	// The functions run in the ConfigMap's DB_EXEC_MODE (cache_statement: PgBouncer >= 1.21
	// keeps prepared statements valid in transaction mode); REHEARSAL_DB_EXEC_MODE overrides it.
	dbExecMode := os.Getenv("REHEARSAL_DB_EXEC_MODE")
	if dbExecMode == "" {
		dbExecMode = "cache_statement"
	}
	t.Logf("DB_EXEC_MODE=%s for every function", dbExecMode)

	// 1. Binaries: every function, the broker.
	var names []string
	for _, n := range functionNames(t, root) {
		if _, err := os.Stat(filepath.Join(root, "knative", "services", n+".yaml")); err != nil {
			// Not deployed in the cluster, so not here either (tools/manifestcheck fails on it).
			t.Logf("NOT STARTED: functions/%s has no knative/services/%s.yaml", n, n)
			continue
		}
		if only := os.Getenv("REHEARSAL_FUNCTIONS"); only != "" && n != "gateway" && !slices.Contains(strings.Split(only, ","), n) {
			t.Logf("NOT STARTED: %s is not in REHEARSAL_FUNCTIONS", n)
			continue
		}
		names = append(names, n)
	}
	pkgs := map[string]string{"broker": "./tools/rehearsal/cmd/broker"}
	for _, n := range names {
		pkgs[n] = "./functions/" + n + "/cmd"
	}
	buildStart := time.Now()
	var bins map[string]string
	if dir := os.Getenv("REHEARSAL_BIN"); dir != "" {
		// Binaries built beforehand (e.g. by make build): the caller vouches they are current.
		bins = map[string]string{}
		for n := range pkgs {
			bins[n] = filepath.Join(dir, n)
		}
	} else {
		bins = buildBinaries(t, root, filepath.Join(work, "bin"), pkgs)
	}
	buildTook := time.Since(buildStart)
	t.Logf("%d binaries ready in %s", len(bins), buildTook.Round(time.Millisecond))

	// 2. PostgreSQL (a migrated database of its own) and Redis.
	dbURL := testenv.DBURL(t)
	// The functions connect as the application role, as the sqal-database Secret makes
	// them do in the cluster (row-level security applies); the test reads as the owner.
	appURL := testenv.AppURL(t, dbURL)
	redisURL := testenv.RedisURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// 3. Processes: one per function, the broker, the gateway; every one on its own port.
	procs := map[string]*process{}
	for _, n := range append([]string{"broker"}, names...) {
		procs[n] = &process{name: n, bin: bins[n], port: freePort(t), logPath: filepath.Join(logDir, n+".log")}
	}
	var serviceURLs []string
	for _, n := range names {
		if n != "gateway" {
			serviceURLs = append(serviceURLs, n+"="+procs[n].url())
		}
	}
	brokerURL := procs["broker"].url() + "/sqal/default"
	for _, n := range names {
		env, err := clusterenv.ContainerEnv(root, n)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{
			// What Knative sets in every container.
			"PORT": strconv.Itoa(procs[n].port), "K_SERVICE": n, "K_REVISION": n + "-00001", "K_CONFIGURATION": n,
			// What the ConfigMap and Secrets point at in the cluster, here the local servers.
			"DATABASE_URL": appURL, "REDIS_URL": redisURL, "BROKER_URL": brokerURL, "K_SINK": brokerURL,
			// No Keycloak and no provisioned device keys here: the rehearsal is about
			// delivery, not credentials (the functions' own tests cover both).
			"AUTH_MODE": "open", "INGEST_DEVICE_AUTH": "off",
			// Well inside the test's own stop timeout.
			"SHUTDOWN_GRACE": "10s",
		} {
			env[k] = v
		}
		env["DB_EXEC_MODE"] = dbExecMode
		if n == "gateway" {
			env["GATEWAY_SERVICE_URLS"] = strings.Join(serviceURLs, ",")
		}
		procs[n].env = env
	}
	procs["broker"].env = map[string]string{
		"PORT": strconv.Itoa(procs["broker"].port), "DATABASE_URL": dbURL, "DB_MAX_CONNS": "4",
		"BROKER_TRIGGERS_DIR": filepath.Join(root, "knative", "triggers"), "BROKER_SERVICE_URLS": strings.Join(serviceURLs, ","),
		// The producers relay their outbox themselves (as in the cluster); the relay
		// function gets the PingSource's tick every 2 s instead of every minute.
		"BROKER_RELAY": "false", "BROKER_PING_INTERVAL": "2s", "SHUTDOWN_GRACE": "10s",
	}

	// Whatever happens, no process outlives the test.
	t.Cleanup(func() {
		for _, p := range procs {
			if p.running() {
				_, _, _ = p.stop(15 * time.Second)
			}
		}
	})
	startOrder := append([]string{"broker"}, names...)
	for _, n := range startOrder {
		if err := procs[n].start(); err != nil {
			t.Fatal(err)
		}
	}
	readyCtx, readyCancel := context.WithTimeout(ctx, 60*time.Second)
	for _, n := range startOrder {
		if _, err := procs[n].waitReady(readyCtx); err != nil {
			readyCancel()
			t.Fatal(err)
		}
	}
	readyCancel()
	t.Logf("%d processes ready (broker + %d functions)", len(procs), len(names))

	// A first station socket through the gateway: a routing mistake fails here, clearly.
	if err := dialOnce(ctx, "ws://127.0.0.1:"+strconv.Itoa(procs["gateway"].port)+"/ws/sensors/"); err != nil {
		t.Fatalf("gateway -> ingest WebSocket: %v\n%s\n%s", err, procs["gateway"].tail(10), procs["ingest"].tail(10))
	}

	// A dashboard on /ws/realtime/ through the gateway for the whole run: what the
	// realtime fan-out (Broker -> realtime -> Redis -> socket) shows of the stream.
	dash, err := watchDashboard(ctx, "ws://127.0.0.1:"+strconv.Itoa(procs["gateway"].port)+"/ws/realtime/")
	if err != nil {
		t.Fatalf("dashboard socket: %v\n%s", err, procs["realtime"].tail(10))
	}

	// 4. The stations, through the gateway, while ingest and alerts are restarted.
	var (
		ackMu sync.Mutex
		acked = map[string]int{}
	)
	simCfg := station.Config{
		URL:     "ws://127.0.0.1:" + strconv.Itoa(procs["gateway"].port) + "/ws/sensors/",
		Devices: devices, Rate: float64(rate), Count: samples, Seed: 7,
		Drain: 60 * time.Second, BackoffMin: 200 * time.Millisecond, BackoffMax: 2 * time.Second,
		RetryDelay: 500 * time.Millisecond,
		Progress:   progressWriter(t), Every: 2 * time.Second,
		OnAck: func(id string, _ bool) {
			ackMu.Lock()
			acked[id]++
			ackMu.Unlock()
		},
	}
	var chaosLog []string
	chaosErr := make(chan error, 1)
	simCtx, simCancel := context.WithTimeout(ctx, simTimeout())
	defer simCancel()
	go func() {
		chaosErr <- chaos(simCtx, db, procs, samples, func(s string) { chaosLog = append(chaosLog, s); t.Log(s) })
	}()
	sum, err := station.Run(simCtx, simCfg)
	if err != nil {
		simCancel()
		<-chaosErr // it logs through t: done before the test ends
		t.Fatalf("simulator: %v (%s)", err, sum)
	}
	if err := <-chaosErr; err != nil {
		t.Fatalf("restarts: %v", err)
	}
	t.Log(sum.String())

	// 5. Wait until every event has gone through.
	conv, err := converge(ctx, db, procs["broker"].url(), filepath.Join(root, "knative", "triggers"))
	if err != nil {
		t.Fatalf("events did not settle: %v\n%s", err, procs["broker"].tail(20))
	}

	// 6. Checks.
	ackMu.Lock()
	ackedIDs := make([]string, 0, len(acked))
	for id := range acked {
		ackedIDs = append(ackedIDs, id)
	}
	ackMu.Unlock()
	sort.Strings(ackedIDs)
	var failures []string
	fail := func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) }

	if sum.Sent != int64(samples) || sum.Unacked != 0 || sum.Rejected != 0 {
		fail("simulator: sent %d of %d, %d never acknowledged, %d rejected", sum.Sent, samples, sum.Unacked, sum.Rejected)
	}
	if sum.Reconnects == 0 {
		fail("no station reconnected: the ingest restart was not felt")
	}
	stored := queryCounts(t, db, `SELECT sample_id, count(*) FROM sensor_samples GROUP BY sample_id`)
	for id, n := range stored {
		if n != 1 {
			fail("sample %s stored %d times", id, n)
		}
	}
	var lost []string
	for _, id := range ackedIDs {
		if stored[id] == 0 {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		fail("%d acknowledged samples are not stored: %v", len(lost), firstN(lost, 10))
	}
	if len(stored) != len(ackedIDs) {
		fail("%d samples stored, %d acknowledged", len(stored), len(ackedIDs))
	}

	// alerts: every stored sample processed once, alert rows exactly as the rules say.
	processed := queryCounts(t, db, `SELECT event_id, count(*) FROM processed_events WHERE consumer = 'alerts' AND source = $1 GROUP BY event_id`, sample.Source)
	if missing := diff(stored, processed); len(missing) > 0 {
		fail("alerts never processed %d stored samples: %v", len(missing), firstN(missing, 10))
	}
	if extra := diff(processed, stored); len(extra) > 0 {
		fail("alerts processed %d events of no stored sample: %v", len(extra), firstN(extra, 10))
	}
	wantAlerts := expectedAlerts(t, db)
	gotAlerts := queryCounts(t, db, `SELECT sample_id || '/' || alert_type, count(*) FROM sqal_alerts GROUP BY 1`)
	if d := append(diff(wantAlerts, gotAlerts), diff(gotAlerts, wantAlerts)...); len(d) > 0 {
		fail("alert rows differ from the rules (%d expected, %d stored): %v", len(wantAlerts), len(gotAlerts), firstN(d, 10))
	}
	raised := queryCounts(t, db, `SELECT event_id, count(*) FROM event_outbox WHERE type = $1 GROUP BY event_id`, alert.TypeRaised)
	if len(raised) != len(gotAlerts) {
		fail("%d sqal.alert.raised events for %d alerts", len(raised), len(gotAlerts))
	}

	// predict: one prediction per stored sample and model version.
	predicted := queryCounts(t, db, `SELECT sample_id, count(*) FROM predictions GROUP BY sample_id`)
	dupPred := queryCounts(t, db, `SELECT sample_id || '/' || model_name || '/' || model_version, count(*) FROM predictions GROUP BY 1 HAVING count(*) > 1`)
	if missing := diff(stored, predicted); len(missing) > 0 {
		fail("%d stored samples have no prediction: %v", len(missing), firstN(missing, 10))
	}
	if len(dupPred) > 0 {
		fail("duplicate predictions: %v", firstN(keys(dupPred), 10))
	}

	// The dashboard saw every stored sample (realtime was never restarted, so nothing
	// excuses a gap); give the last messages a moment to cross Redis.
	dashTypes, dashSamples := dash.wait(func(n int) bool { return n >= len(stored) }, 10*time.Second)
	if missing := diff(stored, dashSamples); len(missing) > 0 {
		fail("the dashboard never got sensor_update for %d stored samples: %v", len(missing), firstN(missing, 10))
	}

	// Nothing given up.
	var deadLetters int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM event_dead_letters`).Scan(&deadLetters); err != nil {
		t.Fatal(err)
	}
	if deadLetters > 0 || conv.stats.DeadLettered > 0 {
		fail("%d dead letters stored, %d dead-lettered by the broker", deadLetters, conv.stats.DeadLettered)
	}

	// No process may have died on its own during the run.
	for _, n := range startOrder {
		if !procs[n].running() {
			fail("%s is not running before teardown:\n%s", n, procs[n].tail(20))
		}
	}

	// 7. Teardown: SIGTERM everything, the way a rollout does; each must exit 0.
	stopOrder := []string{"gateway"}
	for _, n := range names {
		if n != "gateway" {
			stopOrder = append(stopOrder, n)
		}
	}
	stopOrder = append(stopOrder, "broker")
	var exits []string
	for _, n := range stopOrder {
		code, took, err := procs[n].stop(20 * time.Second)
		if err != nil {
			fail("stop %s: %v", n, err)
			continue
		}
		exits = append(exits, fmt.Sprintf("%s=%d(%s)", n, code, took.Round(time.Millisecond)))
		if code != 0 {
			fail("%s exited %d on SIGTERM:\n%s", n, code, procs[n].tail(20))
		}
	}

	for _, n := range startOrder {
		starts, codes := procs[n].history()
		if slices.ContainsFunc(codes, func(c int) bool { return c != 0 }) {
			fail("%s: %d starts, exit codes %v", n, starts, codes)
		}
	}

	summary := strings.Join([]string{
		fmt.Sprintf("rehearsal: %d processes (broker + %d functions), binaries built in %s, DB_EXEC_MODE=%s", len(procs), len(names), buildTook.Round(time.Millisecond), dbExecMode),
		fmt.Sprintf("samples: %d sent, %d acknowledged (%d saved + %d duplicate acks), %d resent, %d reconnects, %d dial errors, %d stored, %d unacked",
			sum.Sent, len(ackedIDs), sum.Acked, sum.Duplicates, sum.Resent, sum.Reconnects, sum.DialErrors, len(stored), sum.Unacked),
		fmt.Sprintf("events: %d in the outbox, %d accepted by the broker, %d delivered (%d expected by the Triggers), %d retries, %d dead letters, settled %s after the stream",
			conv.outbox, conv.stats.Accepted, conv.stats.Delivered, conv.expected, conv.stats.Retries, conv.stats.DeadLettered, conv.took.Round(time.Millisecond)),
		fmt.Sprintf("effects: %d alert processings, %d alerts (per the rules), %d predictions", len(processed), len(gotAlerts), len(predicted)),
		fmt.Sprintf("dashboard (/ws/realtime/ through the gateway): %d sensor_update for %d samples, %d alert, %d prediction messages",
			dashTypes["sensor_update"], len(dashSamples), dashTypes["alert"], dashTypes["prediction"]),
		"restarts: " + strings.Join(chaosLog, "; "),
		"exit codes on SIGTERM: " + strings.Join(exits, " "),
	}, "\n")
	t.Log("\n" + summary)
	_ = os.WriteFile(filepath.Join(work, "summary.txt"), []byte(summary+"\n"), 0o644)
	if len(failures) > 0 {
		t.Fatalf("rehearsal failed:\n- %s", strings.Join(failures, "\n- "))
	}
}

// progressWriter shows the simulator's live line with -v only.
func progressWriter(t *testing.T) io.Writer {
	if testing.Verbose() {
		return os.Stderr
	}
	return nil
}

// chaos SIGTERMs ingest a quarter into the stream (the stations see their sockets
// close and reconnect through the gateway meanwhile answering 502) and alerts halfway
// (the broker retries its events until it is back), restarting each. Every stop must
// be a clean exit 0.
func chaos(ctx context.Context, db *pgxpool.Pool, procs map[string]*process, samples int, logf func(string)) error {
	for _, step := range []struct {
		service string
		at      int
		down    time.Duration
	}{
		{"ingest", samples / 4, time.Second},
		{"alerts", samples / 2, 3 * time.Second},
	} {
		if err := waitStored(ctx, db, step.at); err != nil {
			return fmt.Errorf("waiting for %d stored samples before stopping %s: %w", step.at, step.service, err)
		}
		p := procs[step.service]
		code, took, err := p.stop(20 * time.Second)
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("%s exited %d on SIGTERM:\n%s", step.service, code, p.tail(20))
		}
		time.Sleep(step.down)
		if err := p.start(); err != nil {
			return err
		}
		ready, err := p.waitReady(ctx)
		if err != nil {
			return err
		}
		logf(fmt.Sprintf("%s SIGTERM at %d stored samples, exit 0 after %s, down %s, ready %s after restart",
			step.service, step.at, took.Round(time.Millisecond), step.down, ready.Round(time.Millisecond)))
	}
	return nil
}

func waitStored(ctx context.Context, db *pgxpool.Pool, n int) error {
	for {
		var got int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM sensor_samples`).Scan(&got); err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d stored: %w", got, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type convergence struct {
	outbox   int // events written to the outbox
	expected int // deliveries the Triggers ask for
	stats    busStats
	took     time.Duration
}

// converge waits until the outbox is relayed, alerts and predict have seen every stored
// sample, and the broker has made at least every delivery the Triggers ask for
// (at-least-once: more is allowed).
func converge(ctx context.Context, db *pgxpool.Pool, brokerURL, triggersDir string) (convergence, error) {
	triggers, err := localbus.LoadTriggers(triggersDir)
	if err != nil {
		return convergence{}, err
	}
	start := time.Now()
	deadline := time.Now().Add(90 * time.Second)
	var c convergence
	var last error
	for time.Now().Before(deadline) {
		last = func() error {
			var pending int
			if err := db.QueryRow(ctx, `SELECT count(*) FROM event_outbox WHERE delivered_at IS NULL`).Scan(&pending); err != nil {
				return err
			}
			if pending > 0 {
				return fmt.Errorf("%d outbox events not relayed", pending)
			}
			// The consumers' effects: a delivery still waiting for its retry shows here,
			// while the broker's counters may already be met by duplicates.
			var stored, processed, predicted int
			if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM sensor_samples),
				(SELECT count(*) FROM processed_events WHERE consumer = 'alerts' AND source = $1),
				(SELECT count(DISTINCT sample_id) FROM predictions)`, sample.Source).Scan(&stored, &processed, &predicted); err != nil {
				return err
			}
			if processed < stored || predicted < stored {
				return fmt.Errorf("%d samples stored, %d processed by alerts, %d predicted", stored, processed, predicted)
			}
			exp, n, err := expectedDeliveries(ctx, db, triggers)
			if err != nil {
				return err
			}
			st, err := brokerStats(ctx, brokerURL)
			if err != nil {
				return err
			}
			c = convergence{outbox: n, expected: exp, stats: st, took: time.Since(start)}
			if int(st.Delivered+st.DeadLettered) < exp {
				return fmt.Errorf("broker delivered %d (+%d dead letters) of %d expected deliveries", st.Delivered, st.DeadLettered, exp)
			}
			return nil
		}()
		if last == nil {
			return c, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c, last
}

// expectedDeliveries counts, for every event of the outbox, the Triggers it matches.
func expectedDeliveries(ctx context.Context, db *pgxpool.Pool, triggers []localbus.Trigger) (deliveries, events int, err error) {
	rows, err := db.Query(ctx, `SELECT event_id, source, type, coalesce(subject, ''), attributes FROM event_outbox`)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, source, typ, subject string
		var attrs map[string]any
		if err := rows.Scan(&id, &source, &typ, &subject, &attrs); err != nil {
			return 0, 0, err
		}
		e := cloudevents.NewEvent()
		e.SetID(id)
		e.SetSource(source)
		e.SetType(typ)
		if subject != "" {
			e.SetSubject(subject)
		}
		for k, v := range attrs {
			if s, ok := v.(string); ok && !slices.Contains([]string{"specversion", "time", "datacontenttype", "dataschema"}, k) {
				e.SetExtension(k, s)
			}
		}
		events++
		for i := range triggers {
			if triggers[i].Matches(e) {
				deliveries++
			}
		}
	}
	return deliveries, events, rows.Err()
}

func brokerStats(ctx context.Context, brokerURL string) (busStats, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, brokerURL+"/stats", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return busStats{}, fmt.Errorf("broker stats: %w", err)
	}
	defer res.Body.Close()
	var st busStats
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return busStats{}, fmt.Errorf("broker stats: %w", err)
	}
	return st, nil
}

// expectedAlerts applies the rules (shared/alert, the input alerts builds from the
// event) to every sqal.sample.stored event ingest wrote: "sample_id/alert_type" -> 1.
func expectedAlerts(t *testing.T, db *pgxpool.Pool) map[string]int {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT payload FROM event_outbox WHERE type = $1 AND source = $2`, sample.TypeStored, sample.Source)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			t.Fatal(err)
		}
		var s sample.StoredEvent
		if err := json.Unmarshal(payload, &s); err != nil {
			t.Fatalf("decode a stored event: %v", err)
		}
		for _, a := range alert.Evaluate(alert.Sample{
			FinalScore: s.FinalScore, FinalGrade: s.FinalGrade, IsCompliant: s.IsCompliant,
			ToFQualityScore: s.ToFQualityScore, SpectralQualityScore: s.SpectralQualityScore,
			OxidationIndex: s.OxidationIndex, FatQualityIndex: s.FatQualityIndex, FreshnessIndex: s.FreshnessIndex,
		}) {
			out[s.SampleID+"/"+a.Type]++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// queryCounts runs a "key, count" query.
func queryCounts(t *testing.T, db *pgxpool.Pool, q string, args ...any) map[string]int {
	t.Helper()
	rows, err := db.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(errors.Join(errors.New(q), err))
	}
	return out
}

// diff lists the keys of a missing from b.
func diff(a, b map[string]int) []string {
	var out []string
	for k := range a {
		if b[k] == 0 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(slices.Clone(s[:n]), fmt.Sprintf("... (%d more)", len(s)-n))
	}
	return s
}

// simTimeout bounds the stream (REHEARSAL_SIM_TIMEOUT, default 3 minutes).
func simTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("REHEARSAL_SIM_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 3 * time.Minute
}

// dialOnce opens a station socket and waits for ingest's connection_established.
func dialOnce(ctx context.Context, url string) error {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	_, b, err := c.Read(dctx)
	if err != nil {
		return fmt.Errorf("no first frame: %w", err)
	}
	if !strings.Contains(string(b), "connection_established") {
		return fmt.Errorf("first frame is not connection_established: %.200s", b)
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

// dashboard is a /ws/realtime/ client counting what it receives.
type dashboard struct {
	mu      sync.Mutex
	types   map[string]int
	samples map[string]int // sensor_update per sample_id
}

func watchDashboard(ctx context.Context, url string) (*dashboard, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(16 << 20)
	d := &dashboard{types: map[string]int{}, samples: map[string]int{}}
	go func() { // ends when the realtime process closes the socket at teardown
		defer c.CloseNow()
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			var m struct {
				Type     string `json:"type"`
				SampleID string `json:"sample_id"`
			}
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			d.mu.Lock()
			d.types[m.Type]++
			if m.Type == "sensor_update" && m.SampleID != "" {
				d.samples[m.SampleID]++
			}
			d.mu.Unlock()
		}
	}()
	return d, nil
}

// wait returns the counts once done(distinct samples seen) holds or after timeout.
func (d *dashboard) wait(done func(int) bool, timeout time.Duration) (map[string]int, map[string]int) {
	deadline := time.Now().Add(timeout)
	for {
		d.mu.Lock()
		n := len(d.samples)
		d.mu.Unlock()
		if done(n) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.types), maps.Clone(d.samples)
}
