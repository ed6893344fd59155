// Command bench-ml measures the ML steps (`make bench-ml`) and prints one table:
//
//   - the predict function end to end over HTTP: a binary CloudEvent sqal.sample.stored
//     in, sample read, features, model, prediction + explanation + outbox event stored,
//     202 out — predictions/s and p50/p99 latency, with the seeded rules model v0 and
//     with a trained model (anomaly detector included);
//   - the Open Inference Protocol endpoint (/v2/models/{name}/infer, one row, nothing
//     stored), same measures;
//   - training on 100,000 generated samples: feature extraction, fit (softmax + ridge +
//     per-device anomaly profiles) and evaluation times;
//   - peak Go heap of each part and the peak RSS of the process.
//
// Without BENCH_DATABASE_URL it starts a throwaway PostgreSQL and applies the
// migrations. Flags shorten or lengthen the runs (defaults keep it under a minute).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/functions/predict"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/localstack"
	"github.com/sqalfn/sqal/shared/migrate"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/ml/synth"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := realMain(ctx, os.Args[1:], os.Stdout); err != nil {
		// Not log.Fatal: the slog default set below would filter the log package's line.
		fmt.Fprintln(os.Stderr, "bench-ml:", err)
		os.Exit(1)
	}
}

type options struct {
	trainSamples int
	epochs       int
	duration     time.Duration
	concurrency  int
	dbURL        string
}

type row struct{ what, value, note string }

func realMain(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench-ml", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.trainSamples, "train-samples", 100_000, "generated samples of the training run")
	fs.IntVar(&o.epochs, "epochs", 10, "training epochs")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measuring time per prediction scenario")
	fs.IntVar(&o.concurrency, "concurrency", 4, "concurrent clients of the predict function")
	fs.StringVar(&o.dbURL, "db", os.Getenv("BENCH_DATABASE_URL"), "PostgreSQL URL (default $BENCH_DATABASE_URL; empty: throwaway server)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	var rows []row

	// Training first, in a fresh process state, so its peak heap is its own.
	trainRows, err := benchTraining(ctx, o)
	if err != nil {
		return err
	}
	rows = append(rows, trainRows...)

	if o.dbURL == "" {
		pg, err := localstack.StartPostgres(ctx, localstack.PostgresOptions{})
		if err != nil {
			return fmt.Errorf("start PostgreSQL: %w", err)
		}
		defer pg.Stop()
		o.dbURL = pg.URL()
		logf("throwaway PostgreSQL on port %d", pg.Port)
	}
	if err := migrate.Up(ctx, o.dbURL); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(o.dbURL)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	cfg.MaxConns = int32(o.concurrency + 2)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer pool.Close()
	predRows, err := benchPredict(ctx, pool, o)
	if err != nil {
		return err
	}
	rows = append(rows, predRows...)
	rows = append(rows, row{"peak RSS of the process", mb(peakRSS()), "VmHWM: training + predict + the Go runtime"})

	fmt.Fprintf(out, "\nbench-ml  (GOMAXPROCS=%d, %s, concurrency %d, %s per prediction scenario)\n\n",
		runtime.GOMAXPROCS(0), runtime.Version(), o.concurrency, o.duration)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tvalue\tnote")
	fmt.Fprintln(tw, "-------\t-----\t----")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.what, r.value, r.note)
	}
	return tw.Flush()
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench-ml: "+format+"\n", args...) }

// heapPeak samples the Go heap until stopped and returns the highest value seen.
func heapPeak() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// peakRSS reads the peak resident set size of this process (Linux).
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func benchTraining(ctx context.Context, o options) ([]row, error) {
	runtime.GC()
	stop := heapPeak()
	logf("generating and extracting features of %d samples", o.trainSamples)
	start := time.Now()
	g := synth.New(42)
	var d ml.Dataset
	for i := 0; i < o.trainSamples; i++ {
		s := g.Next()
		x, err := features.Extract(s.Features)
		if err != nil {
			return nil, err
		}
		if err := d.Add(s.SampleID, s.DeviceID, x, s.FinalGrade, s.FinalScore); err != nil {
			return nil, err
		}
	}
	extract := time.Since(start)
	train, test := d.Split(ml.HoldOut)
	logf("training on %d samples (%d held out), %d epochs", train.Len(), test.Len(), o.epochs)
	start = time.Now()
	m, err := ml.Train(ctx, train, ml.TrainConfig{Epochs: o.epochs, NoHistograms: true}, nil)
	if err != nil {
		return nil, err
	}
	fit := time.Since(start)
	start = time.Now()
	mt, err := ml.Evaluate(m, test)
	if err != nil {
		return nil, err
	}
	eval := time.Since(start)
	peak := stop()
	n := o.trainSamples
	return []row{
		{fmt.Sprintf("training: %d samples, total", n), (extract + fit + eval).Round(time.Millisecond).String(),
			fmt.Sprintf("held-out accuracy %.3f, macro-F1 %.3f, MAE %.4f, ECE %.3f", mt.Accuracy, mt.MacroF1, mt.MAE, mt.ECE)},
		{"  generate + extract features", extract.Round(time.Millisecond).String(), fmt.Sprintf("%.1f µs/sample", float64(extract.Microseconds())/float64(n))},
		{fmt.Sprintf("  fit (%d epochs softmax, ridge, anomaly)", o.epochs), fit.Round(time.Millisecond).String(), fmt.Sprintf("%d training samples", train.Len())},
		{"  evaluate held-out split", eval.Round(time.Millisecond).String(), fmt.Sprintf("%d samples", test.Len())},
		{"  peak Go heap (training)", mb(peak), "dataset + standardised copy + model"},
	}, nil
}

func benchPredict(ctx context.Context, pool *pgxpool.Pool, o options) ([]row, error) {
	// Enough distinct samples that every request of both event scenarios stores a new
	// prediction (up to 6,000/s each).
	n := max(30_000, int(2*6000*o.duration.Seconds()))
	logf("storing %d generated samples", n)
	samples := synth.New(7).Batch(n)
	if err := synth.Insert(ctx, pool, samples, time.Now().UTC()); err != nil {
		return nil, err
	}
	// The relay is not running here: keep the outbox from growing into the measure.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	// predict runs as in the cluster: as the application role, under row-level security.
	app, err := appPool(ctx, o.dbURL)
	if err != nil {
		return nil, err
	}
	defer app.Close()
	srv, err := predict.New(ctx, database.NewDB(app), predict.Config{Models: []string{ml.QualityModel}, RefreshInterval: time.Hour}, quiet)
	if err != nil {
		return nil, err
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency * 2}}

	var rows []row
	next := 0
	eventReq := func() (*http.Request, error) {
		if next >= len(samples) {
			return nil, fmt.Errorf("ran out of samples: lower -duration")
		}
		s := samples[next]
		next++
		b, _ := json.Marshal(sample.StoredEvent{SampleID: s.SampleID, DeviceID: s.DeviceID})
		r, _ := http.NewRequest(http.MethodPost, hs.URL+"/", bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("ce-specversion", "1.0")
		r.Header.Set("ce-type", sample.TypeStored)
		r.Header.Set("ce-source", sample.Source)
		r.Header.Set("ce-id", s.SampleID)
		return r, nil
	}

	runtime.GC()
	stop := heapPeak()
	res, err := load(ctx, client, o, eventReq, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	rows = append(rows, res.row("predict: event -> stored prediction, rules model v0"))

	// Train on the stored samples, register and activate, then measure again.
	d, _, err := ml.LoadDataset(ctx, pool, features.Loader{}, features.Window{Limit: 20000})
	if err != nil {
		return nil, err
	}
	m, err := ml.Train(ctx, d, ml.TrainConfig{Epochs: 5, NoHistograms: true}, nil)
	if err != nil {
		return nil, err
	}
	reg := &ml.Registry{DB: pool, Store: ml.PGStore{DB: pool}, Outbox: events.AddToOutbox, Source: ml.SourceTrain}
	var rec ml.Record
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rec, err = reg.Register(ctx, tx, ml.Candidate{Model: m, Samples: d.Len()})
		return err
	}); err != nil {
		return nil, err
	}
	if _, err := reg.Activate(ctx, rec.ID, "bench"); err != nil {
		return nil, err
	}
	if err := srv.Service().Refresh(ctx, ml.QualityModel); err != nil {
		return nil, err
	}
	res, err = load(ctx, client, o, eventReq, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	rows = append(rows, res.row(fmt.Sprintf("predict: event -> stored prediction, trained v%s", rec.Version)))

	// The production path: a model trained with the histogram features, on captured
	// simulator frames stored the way ingest stores them (the histogram then comes out of
	// the zstd-compressed raw frame for every prediction).
	frameRows, err := histogramScenario(ctx, pool, srv, reg, client, hs.URL, o)
	if err != nil {
		return nil, err
	}
	rows = append(rows, frameRows...)

	x, _ := features.Extract(samples[0].Features)
	body, _ := json.Marshal(map[string]any{"inputs": []map[string]any{{"name": "features", "datatype": "FP64",
		"shape": []int{1, features.Len()}, "data": x}, {"name": "device_id", "datatype": "BYTES", "shape": []int{1},
		"data": []string{samples[0].DeviceID}}}})
	res, err = load(ctx, client, o, func() (*http.Request, error) {
		r, _ := http.NewRequest(http.MethodPost, hs.URL+"/v2/models/"+ml.QualityModel+"/infer", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r, nil
	}, http.StatusOK)
	if err != nil {
		return nil, err
	}
	rows = append(rows, res.row("OIP v2 infer, 1 row (no storage), trained model"))
	rows = append(rows, row{"  peak Go heap (predict scenarios)", mb(stop()), "server + load generator + pgx pool"})
	var stored int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM predictions`).Scan(&stored)
	rows = append(rows, row{"  predictions stored", strconv.Itoa(stored), "one per event: none lost, none doubled"})
	return rows, nil
}

type result struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
}

func (r result) row(what string) row {
	slices.Sort(r.lat)
	q := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
	}
	return row{what, fmt.Sprintf("%.0f /s", float64(r.n)/r.elapsed.Seconds()),
		fmt.Sprintf("p50 %s, p99 %s, %d requests", q(0.5).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), r.n)}
}

// load sends requests from o.concurrency clients for o.duration.
func load(ctx context.Context, client *http.Client, o options, next func() (*http.Request, error), want int) (result, error) {
	var mu sync.Mutex
	var res result
	var firstErr error
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < o.concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				req, err := next()
				mu.Unlock()
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					cancel()
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				d := time.Since(t0)
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					mu.Lock()
					firstErr = fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
					mu.Unlock()
					cancel()
					return
				}
				mu.Lock()
				res.n++
				res.lat = append(res.lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, firstErr
}

// histogramScenario stores copies of a captured frame (distinct sample ids) through
// ingest's storage path, activates a model that uses the histogram features, and measures
// the predict function on them.
func histogramScenario(ctx context.Context, pool *pgxpool.Pool, srv *predict.Server, reg *ml.Registry,
	client *http.Client, base string, o options) ([]row, error) {
	frame, err := fixtures.Read(fixtures.Sample1)
	if err != nil {
		return nil, fmt.Errorf("captured frame: %w", err)
	}
	const copies = 8000
	const origID = `"MG-261127-1895-033"`
	if !bytes.Contains(frame, []byte(origID)) {
		return nil, fmt.Errorf("captured frame: sample id %s not found", origID)
	}
	logf("storing %d captured frames", copies)
	ids := make([]string, copies)
	var rowsIn [][]any
	flush := func() error {
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"sensor_samples"}, sample.Columns, pgx.CopyFromRows(rowsIn)); err != nil {
			return fmt.Errorf("store captured frames: %w", err)
		}
		rowsIn = rowsIn[:0]
		return nil
	}
	for i := range ids {
		ids[i] = fmt.Sprintf("BH-%06d", i)
		f := bytes.Replace(frame, []byte(origID), []byte(strconv.Quote(ids[i])), 1)
		fr, err := sample.Decode(f)
		if err != nil {
			return nil, err
		}
		s, err := fr.Sample()
		if err != nil {
			return nil, err
		}
		raw, enc := sample.EncodeRaw(nil, f)
		rowsIn = append(rowsIn, s.Row(raw, enc))
		if len(rowsIn) == 500 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	g := synth.New(99)
	g.Histograms = true
	var d ml.Dataset
	for i := 0; i < 3000; i++ {
		s := g.Next()
		x, err := features.Extract(s.Features)
		if err != nil {
			return nil, err
		}
		if err := d.Add(s.SampleID, s.DeviceID, x, s.FinalGrade, s.FinalScore); err != nil {
			return nil, err
		}
	}
	m, err := ml.Train(ctx, d, ml.TrainConfig{Epochs: 5}, nil)
	if err != nil {
		return nil, err
	}
	var rec ml.Record
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rec, err = reg.Register(ctx, tx, ml.Candidate{Model: m, Samples: d.Len()})
		return err
	}); err != nil {
		return nil, err
	}
	if _, err := reg.Activate(ctx, rec.ID, "bench"); err != nil {
		return nil, err
	}
	if err := srv.Service().Refresh(ctx, ml.QualityModel); err != nil {
		return nil, err
	}
	d = ml.Dataset{}
	runtime.GC()
	next := 0
	res, err := load(ctx, client, o, func() (*http.Request, error) {
		if next >= len(ids) {
			return nil, fmt.Errorf("ran out of captured frames: lower -duration")
		}
		id := ids[next]
		next++
		b, _ := json.Marshal(sample.StoredEvent{SampleID: id})
		r, _ := http.NewRequest(http.MethodPost, base+"/", bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("ce-specversion", "1.0")
		r.Header.Set("ce-type", sample.TypeStored)
		r.Header.Set("ce-source", sample.Source)
		r.Header.Set("ce-id", id)
		return r, nil
	}, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	return []row{res.row(fmt.Sprintf("predict: captured 140 KB frames, v%s with histogram features", rec.Version))}, nil
}

// appPool connects to dbURL as the application role (migration 00060), which the
// throwaway server (or BENCH_APP_DATABASE_URL) lets log in.
func appPool(ctx context.Context, dbURL string) (*pgxpool.Pool, error) {
	u := os.Getenv("BENCH_APP_DATABASE_URL")
	if u == "" {
		var err error
		if u, err = migrate.LocalAppURL(ctx, dbURL); err != nil {
			return nil, err
		}
	}
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("connect as %s: %w", migrate.AppRole, err)
	}
	return pool, nil
}
