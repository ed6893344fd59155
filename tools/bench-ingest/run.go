package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/clusterenv"
	"github.com/sqalfn/sqal/shared/localstack"
	"github.com/sqalfn/sqal/shared/migrate"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// frameTemplate is a frame whose top-level sample_id and device_id are overwritten in
// place (same length) for every send.
type frameTemplate struct {
	name          string
	b             []byte
	idOff, idLen  int
	devOff        int
	devLen        int
	originalBytes int
}

func newTemplate(name string, b []byte) (frameTemplate, error) {
	t := frameTemplate{name: name, b: b, originalBytes: len(b)}
	for _, f := range []struct {
		key      string
		off, len *int
	}{{`"sample_id"`, &t.idOff, &t.idLen}, {`"device_id"`, &t.devOff, &t.devLen}} {
		i := bytes.Index(b, []byte(f.key))
		if i < 0 {
			return t, fmt.Errorf("%s: no %s", name, f.key)
		}
		q1 := i + len(f.key) + bytes.IndexByte(b[i+len(f.key):], '"')
		q2 := q1 + 1 + bytes.IndexByte(b[q1+1:], '"')
		*f.off, *f.len = q1+1, q2-q1-1
	}
	if t.idLen < 12 || t.devLen < 4 {
		return t, fmt.Errorf("%s: ids too short to vary", name)
	}
	return t, nil
}

// stamp writes a unique sample id and the device's id into buf (a copy of t.b).
func (t frameTemplate) stamp(buf []byte, run, device, seq int) {
	id := fmt.Sprintf("B%02d%03d%0*d", run%100, device%1000, t.idLen-6, seq)
	copy(buf[t.idOff:t.idOff+t.idLen], id[len(id)-t.idLen:])
	dev := fmt.Sprintf("%03d", device%1000)
	copy(buf[t.devOff+t.devLen-3:t.devOff+t.devLen], dev)
}

// slim removes the *_raw blocks, keeping the other top-level keys with sample_id and
// device_id first (so the template finds the top-level ones).
func slim(full []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(full, &m); err != nil {
		return nil, err
	}
	delete(m, "vl53l8ch_raw")
	delete(m, "as7341_raw")
	var b bytes.Buffer
	b.WriteString(`{"sample_id":` + string(m["sample_id"]) + `,"device_id":` + string(m["device_id"]))
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "sample_id" && k != "device_id" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(`,"` + k + `":`)
		b.Write(m[k])
	}
	b.WriteString("}")
	return b.Bytes(), nil
}

type result struct {
	name             string
	devices          int
	acked, errors    int64
	rate             float64
	p50, p99         time.Duration
	cpu              float64 // seconds of ingest CPU during the measured window
	pgCPU            float64 // seconds of PostgreSQL CPU (every server process) during it
	peakRSS          int64   // KiB
	ceiling, ofCeil  float64
	offeredRate      int
	measuredDuration time.Duration
	ackedIDs         []string // every sample acked "saved", measured or not
}

// ackSampleID extracts sample_id from an ack frame.
func ackSampleID(msg []byte) string {
	const key = `"sample_id":"`
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return ""
	}
	rest := msg[i+len(key):]
	return string(rest[:max(0, bytes.IndexByte(rest, '"'))])
}

func run(ctx context.Context, o options) error {
	root, err := fixtures.WorkspaceRoot()
	if err != nil {
		return err
	}
	full, err := fixtures.Read(fixtures.Sample1)
	if err != nil {
		return err
	}
	slimB, err := slim(full)
	if err != nil {
		return err
	}
	tFull, err := newTemplate("full", full)
	if err != nil {
		return err
	}
	tSlim, err := newTemplate("slim", slimB)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	logf("building the ingest binary")
	bin := filepath.Join(work, "ingest")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./functions/ingest/cmd")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build ingest: %w", err)
	}

	logf("starting PostgreSQL (durable=%v) and Redis", o.durable)
	pg, err := localstack.StartPostgres(ctx, localstack.PostgresOptions{Durable: o.durable})
	if err != nil {
		return err
	}
	defer pg.Stop()
	rd, err := localstack.StartRedis(ctx, localstack.RedisOptions{})
	if err != nil {
		return err
	}
	defer rd.Stop()
	dbURL := pg.URL()
	if err := migrate.Up(ctx, dbURL); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer db.Close()

	// (a) ceiling
	ceil := map[string]float64{}
	// The best of a few COPY runs: a single short run is at the mercy of whatever else the
	// machine does at that moment (rates from one run varied by 2x on the same machine),
	// and a ceiling that is too low flatters the ratio (b)/(a).
	ceilPG := map[string]float64{} // PostgreSQL CPU ms per row of the best COPY run
	for i, t := range []frameTemplate{tFull, tSlim} {
		var rates []string
		for rep := range o.copyRuns {
			r, pgMS, err := copyCeiling(ctx, db, pg.PID, t, o.copyRows, 90+o.copyRuns*i+rep)
			if err != nil {
				return err
			}
			if r > ceil[t.name] {
				ceil[t.name], ceilPG[t.name] = r, pgMS
			}
			rates = append(rates, fmt.Sprintf("%.0f", r))
		}
		logf("COPY ceiling %s: %.0f rows/s (best of %s), PostgreSQL CPU %.2f ms/row", t.name, ceil[t.name], strings.Join(rates, ", "), ceilPG[t.name])
	}
	if _, err := db.Exec(ctx, `TRUNCATE sensor_samples, event_outbox, sqal_devices`); err != nil {
		return err
	}

	// the ingest process
	port, err := localstack.FreePort()
	if err != nil {
		return err
	}
	start := time.Now()
	// As deployed: connected as the application role (row-level security applies) and
	// with the Go runtime settings of its Knative Service.
	appURL, err := migrate.LocalAppURL(ctx, dbURL)
	if err != nil {
		return err
	}
	goEnv, err := serviceRuntimeEnv(root)
	if err != nil {
		return err
	}
	logf("ingest runs as %s with %s", migrate.AppRole, strings.Join(goEnv, " "))
	proc := exec.CommandContext(ctx, bin)
	proc.Env = append(append(os.Environ(), goEnv...), "PORT="+strconv.Itoa(port), "DATABASE_URL="+appURL, "REDIS_URL="+rd.URL(),
		"DB_MAX_CONNS=8", "LOG_LEVEL=warn", "FUNCTION_TARGET=")
	var procLog bytes.Buffer
	proc.Stdout, proc.Stderr = &procLog, &procLog
	if err := proc.Start(); err != nil {
		return err
	}
	defer func() { _ = proc.Process.Signal(os.Interrupt); _ = proc.Wait() }()
	pid := proc.Process.Pid
	base := "ws://127.0.0.1:" + strconv.Itoa(port) + "/ws/sensors/"
	var startRSS int64
	firstAck, err := timeToFirstAck(ctx, base, start, func() { startRSS = rssKiB(pid, "VmRSS") })
	if err != nil {
		return fmt.Errorf("%w\ningest output:\n%s", err, procLog.String())
	}
	time.Sleep(2 * time.Second)
	idleRSS := rssKiB(pid, "VmRSS")
	logf("first ack after %s, idle RSS %d KiB", firstAck.Round(time.Millisecond), idleRSS)

	var results []result
	var storage storageStats
	runN := 1
	for _, t := range []frameTemplate{tFull, tSlim} {
		for _, n := range o.devices {
			runN++
			logf("%s frames, %d devices", t.name, n)
			r, err := load(ctx, base, pid, pg.PID, t, n, o.window, o.warmup, o.duration, 0, runN)
			if err != nil {
				return fmt.Errorf("%s/%d: %w\ningest output:\n%s", t.name, n, err, procLog.String())
			}
			r.ceiling = ceil[t.name]
			r.ofCeil = r.rate / r.ceiling
			results = append(results, r)
		}
		if t.name == "full" {
			if storage, err = measureStorage(ctx, db, full); err != nil {
				return err
			}
		}
	}
	var fixed *result
	if o.fixedRPS > 0 {
		runN++
		logf("fixed rate %d samples/s, full frames", o.fixedRPS)
		r, err := load(ctx, base, pid, pg.PID, tFull, 4, o.window, o.warmup, 2*o.duration, o.fixedRPS, runN)
		if err != nil {
			return err
		}
		fixed = &r
	}
	time.Sleep(2 * time.Second)
	afterRSS := rssKiB(pid, "VmRSS")

	var allAcked []string
	for _, r := range append(results, derefOr(fixed)...) {
		allAcked = append(allAcked, r.ackedIDs...)
	}
	var stored, ackedStored int64
	if err := db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE sample_id = ANY($1)) FROM sensor_samples`, allAcked).
		Scan(&stored, &ackedStored); err != nil {
		return err
	}
	acked := int64(len(allAcked))

	// report
	fmt.Printf("\nbench-ingest  %s  GOMAXPROCS host CPUs=%d  PostgreSQL durable=%v  window=%d frames/device\n",
		time.Now().UTC().Format(time.RFC3339), numCPU(), o.durable, o.window)
	fmt.Printf("frames: full %d bytes, slim %d bytes (sample-1 fixture)\n\n", tFull.originalBytes, tSlim.originalBytes)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "frames\tdevices\tsamples/s\tp50 ms\tp99 ms\tingest CPU s\tCPU ms/sample\tPG CPU ms/sample\tpeak RSS MiB\tCOPY ceiling/s\t(b)/(a)\terrors\t")
	for _, r := range append(results, derefOr(fixed)...) {
		name := r.name
		if r.offeredRate > 0 {
			name = fmt.Sprintf("%s @%d/s", r.name, r.offeredRate)
		}
		perSample, pgPerSample := 0.0, 0.0
		if r.acked > 0 {
			perSample, pgPerSample = 1000*r.cpu/float64(r.acked), 1000*r.pgCPU/float64(r.acked)
		}
		ratio, ceilS := "", ""
		if r.ceiling > 0 {
			ratio, ceilS = fmt.Sprintf("%.0f%%", 100*r.ofCeil), fmt.Sprintf("%.0f", r.ceiling)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t%s\t%d\t\n", name, r.devices, r.rate,
			ms(r.p50), ms(r.p99), r.cpu, perSample, pgPerSample, float64(r.peakRSS)/1024, ceilS, ratio, r.errors)
	}
	tw.Flush()
	fmt.Printf("\nstart to first ack: %s   RSS: %.1f MiB when ready, %.1f MiB idle after the first sample, %.1f MiB idle after the load\n",
		firstAck.Round(time.Millisecond), float64(startRSS)/1024, float64(idleRSS)/1024, float64(afterRSS)/1024)
	fmt.Printf("rows stored: %d (+1 probe); samples acked \"saved\": %d, of which stored: %d (%s; rows beyond the acks were in flight when a run stopped)\n",
		stored, acked, ackedStored, okIf(ackedStored == acked))
	fmt.Printf("stored bytes per full sample: %.0f (sensor_samples incl. TOAST+indexes: heap %.0f, TOAST %.0f, indexes %.0f; raw_message alone %.0f)\n",
		storage.perRow, storage.heap, storage.toast, storage.indexes, storage.rawMessage)
	fmt.Printf("same frame stored as jsonb: %.0f bytes (pglz), %.0f bytes (lz4)  ->  ratio %.1f%% of pglz jsonb (target <= 15%%)\n",
		storage.jsonbPglz, storage.jsonbLZ4, 100*storage.perRow/storage.jsonbPglz)
	return nil
}

func derefOr(r *result) []result {
	if r == nil {
		return nil
	}
	return []result{*r}
}

func okIf(b bool) string {
	if b {
		return "no acked sample lost"
	}
	return "MISMATCH"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-ingest: "+format+"\n", args...)
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return bytes.Count(b, []byte("\nprocessor")) + 1
}

// copyCeiling COPYs n rows built exactly like ingest builds them (columns and
// compressed raw_message) and returns rows/s. Building the rows is not timed.
func copyCeiling(ctx context.Context, db *pgxpool.Pool, pgPID int, t frameTemplate, n, run int) (rate, pgMSPerRow float64, err error) {
	rows := make([][]any, 0, n)
	buf := slices.Clone(t.b)
	for i := range n {
		t.stamp(buf, run, i%64, i)
		f, err := sample.Decode(buf)
		if err != nil {
			return 0, 0, err
		}
		s, err := f.Sample()
		if err != nil {
			return 0, 0, err
		}
		raw, enc := sample.EncodeRaw(nil, buf)
		row := s.Row(raw, enc)
		// Row keeps references into the frame: give each row its own copy.
		buf = slices.Clone(t.b)
		rows = append(rows, row)
	}
	pg0 := treeCPUSeconds(pgPID)
	start := time.Now()
	copied, err := db.CopyFrom(ctx, pgx.Identifier{"sensor_samples"}, sample.Columns, pgx.CopyFromRows(rows))
	if err != nil {
		return 0, 0, fmt.Errorf("COPY %s: %w", t.name, err)
	}
	rate = float64(copied) / time.Since(start).Seconds()
	return rate, 1000 * (treeCPUSeconds(pgPID) - pg0) / float64(max(copied, 1)), nil
}

func timeToFirstAck(ctx context.Context, url string, start time.Time, connected func()) (time.Duration, error) {
	minimal, err := fixtures.Read(fixtures.Minimal)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("ingest did not accept connections: %w", err)
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		defer c.CloseNow()
		if _, _, err := c.Read(ctx); err != nil {
			return 0, err
		}
		connected()
		if err := c.Write(ctx, websocket.MessageText, minimal); err != nil {
			return 0, err
		}
		_, ack, err := c.Read(ctx)
		if err != nil {
			return 0, err
		}
		if !bytes.Contains(ack, []byte(`"status":"saved"`)) {
			return 0, fmt.Errorf("first reply: %s", ack)
		}
		return time.Since(start), nil
	}
}

// load runs devices connections for warmup+duration. With rps > 0 the devices share
// a fixed offered rate; otherwise each keeps window frames in flight.
func load(ctx context.Context, url string, pid, pgPID int, t frameTemplate, devices, window int, warmup, duration time.Duration, rps, run int) (result, error) {
	r := result{name: t.name, devices: devices, offeredRate: rps}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		measuring atomic.Bool
		acked     atomic.Int64
		errs      atomic.Int64
		mu        sync.Mutex
		lats      []time.Duration
		firstErr  error
	)
	ackedIDs := make([][]string, devices)
	conns := make([]*websocket.Conn, devices)
	for i := range conns {
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			return r, err
		}
		c.SetReadLimit(64 << 20)
		if _, _, err := c.Read(ctx); err != nil {
			return r, err
		}
		conns[i] = c
		defer c.CloseNow()
	}
	var wg sync.WaitGroup
	for d, c := range conns {
		inflight := make(chan time.Time, window)
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			buf := slices.Clone(t.b)
			var tick *time.Ticker
			if rps > 0 {
				tick = time.NewTicker(time.Duration(float64(time.Second) * float64(devices) / float64(rps)))
				defer tick.Stop()
			}
			for seq := 0; ctx.Err() == nil; seq++ {
				if tick != nil {
					select {
					case <-tick.C:
					case <-ctx.Done():
						return
					}
				}
				t.stamp(buf, run, d, seq)
				select {
				case inflight <- time.Now():
				case <-ctx.Done():
					return
				}
				if err := c.Write(ctx, websocket.MessageText, buf); err != nil {
					return
				}
			}
		}()
		go func() { // reader: acks come back in frame order
			defer wg.Done()
			var ids []string
			defer func() { ackedIDs[d] = ids }()
			local := make([]time.Duration, 0, 4096)
			defer func() {
				mu.Lock()
				lats = append(lats, local...)
				mu.Unlock()
			}()
			for {
				_, msg, err := c.Read(ctx)
				if err != nil {
					return
				}
				sent := <-inflight
				if !bytes.Contains(msg, []byte(`"status":"saved"`)) {
					errs.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("reply: %.300s", msg)
					}
					mu.Unlock()
					continue
				}
				ids = append(ids, ackSampleID(msg))
				if measuring.Load() {
					acked.Add(1)
					local = append(local, time.Since(sent))
				}
			}
		}()
	}
	time.Sleep(warmup)
	cpu0, pg0 := cpuSeconds(pid), treeCPUSeconds(pgPID)
	resetPeakRSS(pid)
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(duration)
	measuring.Store(false)
	r.measuredDuration = time.Since(t0)
	r.cpu = cpuSeconds(pid) - cpu0
	r.pgCPU = treeCPUSeconds(pgPID) - pg0
	r.peakRSS = rssKiB(pid, "VmHWM")
	cancel()
	for _, c := range conns {
		c.CloseNow()
	}
	wg.Wait()
	r.acked, r.errors = acked.Load(), errs.Load()
	for _, ids := range ackedIDs {
		r.ackedIDs = append(r.ackedIDs, ids...)
	}
	r.rate = float64(r.acked) / r.measuredDuration.Seconds()
	slices.Sort(lats)
	if len(lats) > 0 {
		r.p50 = lats[len(lats)/2]
		r.p99 = lats[min(len(lats)-1, len(lats)*99/100)]
	}
	if r.errors > 0 {
		logf("%d error replies, first: %v", r.errors, firstErr)
	}
	// Let the pipeline drain before the next scenario (acks of cancelled clients).
	time.Sleep(300 * time.Millisecond)
	return r, nil
}

// /proc helpers (Linux).
func cpuSeconds(pid int) float64 {
	f := procStat(pid)
	if f == nil {
		return 0
	}
	return (f.utime + f.stime) / 100 // USER_HZ
}

// treeCPUSeconds is the CPU time of a server and its processes: its own, its live
// children's and what its exited children used (PostgreSQL's postmaster and backends).
func treeCPUSeconds(root int) float64 {
	f := procStat(root)
	if f == nil {
		return 0
	}
	ticks := f.utime + f.stime + f.cutime + f.cstime
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		if c := procStat(pid); c != nil && c.ppid == root {
			ticks += c.utime + c.stime
		}
	}
	return ticks / 100
}

type stat struct {
	ppid                         int
	utime, stime, cutime, cstime float64 // clock ticks
}

func procStat(pid int) *stat {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// Fields after the ")" of the command name, from field 3 (state): ppid is field 4,
	// utime 14, stime 15, cutime 16, cstime 17.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 15 {
		return nil
	}
	num := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v }
	ppid, _ := strconv.Atoi(f[1])
	return &stat{ppid: ppid, utime: num(11), stime: num(12), cutime: num(13), cstime: num(14)}
}

func rssKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM to the current RSS (Linux >= 4.0).
func resetPeakRSS(pid int) { _ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) }

type storageStats struct {
	perRow, rawMessage, jsonbPglz, jsonbLZ4 float64
	heap, toast, indexes                    float64 // perRow split: main fork, TOAST (with its index), indexes
}

// measureStorage: bytes per stored full sample (the table holds only full frames at
// this point) against the same frame stored as jsonb with each TOAST compression.
func measureStorage(ctx context.Context, db *pgxpool.Pool, full []byte) (storageStats, error) {
	var s storageStats
	if _, err := db.Exec(ctx, `VACUUM ANALYZE sensor_samples`); err != nil {
		return s, err
	}
	// pg_total_relation_size counts everything the table costs on disk: main fork (and
	// its free-space and visibility maps), TOAST table and TOAST index, every index.
	if err := db.QueryRow(ctx, `SELECT pg_total_relation_size('sensor_samples')::float8 / greatest(count(*), 1),
		avg(pg_column_size(raw_message))::float8,
		pg_relation_size('sensor_samples')::float8 / greatest(count(*), 1),
		(SELECT pg_total_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'sensor_samples'::regclass)::float8 / greatest(count(*), 1),
		pg_indexes_size('sensor_samples')::float8 / greatest(count(*), 1)
		FROM sensor_samples`).Scan(&s.perRow, &s.rawMessage, &s.heap, &s.toast, &s.indexes); err != nil {
		return s, err
	}
	const n = 200
	for _, c := range []struct {
		comp string
		dst  *float64
	}{{"pglz", &s.jsonbPglz}, {"lz4", &s.jsonbLZ4}} {
		table := "bench_raw_jsonb_" + c.comp
		if _, err := db.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s; CREATE TABLE %s (j jsonb COMPRESSION %s)`, table, table, c.comp)); err != nil {
			return s, err
		}
		if _, err := db.Exec(ctx, fmt.Sprintf(`INSERT INTO %s SELECT $1::jsonb FROM generate_series(1, %d)`, table, n), string(full)); err != nil {
			return s, err
		}
		if err := db.QueryRow(ctx, fmt.Sprintf(`SELECT pg_total_relation_size('%s')::float8 / %d`, table, n)).Scan(c.dst); err != nil {
			return s, err
		}
	}
	return s, nil
}

// serviceRuntimeEnv returns the Go runtime variables (GOGC, GOMEMLIMIT, GOMAXPROCS) the
// ingest Knative Service sets, as NAME=value.
func serviceRuntimeEnv(root string) ([]string, error) {
	env, err := clusterenv.ServiceEnv(root, "ingest")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range []string{"GOGC", "GOMEMLIMIT", "GOMAXPROCS"} {
		if v, ok := env[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return out, nil
}
