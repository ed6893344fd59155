// Command bench-read measures the SQAL read API on a large data set (`make bench-read`):
// requests/s and p50/p99 latency of the dashboard overview, the samples list and the
// grade distribution, each uncached (no Redis) and cached (Redis, warm), in one run,
// printed as a table with the targets of issue 4.
//
// Without BENCH_DATABASE_URL it starts a throwaway PostgreSQL and Redis, applies the
// migrations and generates the samples (tools/datagen); with it, it reuses that
// database and only generates when it holds fewer samples than asked (-samples).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	sqalapi "github.com/sqalfn/sqal/functions/sqal-api"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/localstack"
	"github.com/sqalfn/sqal/shared/migrate"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/tools/datagen/datagen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := realMain(ctx, os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

type options struct {
	samples     int
	duration    time.Duration
	concurrency int
	dbURL       string
	redisURL    string
}

func realMain(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench-read", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.samples, "samples", 1_000_000, "samples in the database")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measuring time per scenario")
	fs.IntVar(&o.concurrency, "concurrency", 1, "concurrent clients (latency targets are per request: 1 on a 2-core machine)")
	fs.StringVar(&o.dbURL, "db", os.Getenv("BENCH_DATABASE_URL"), "PostgreSQL URL (default $BENCH_DATABASE_URL; empty: throwaway server)")
	fs.StringVar(&o.redisURL, "redis", os.Getenv("BENCH_REDIS_URL"), "Redis URL (default $BENCH_REDIS_URL; empty: throwaway server)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))

	if o.dbURL == "" {
		// Keep the generated million samples between runs (git-ignored .local/bench):
		// generating them takes minutes, measuring seconds.
		opts := localstack.PostgresOptions{}
		if root, err := fixtures.WorkspaceRoot(); err == nil {
			opts.Dir = filepath.Join(root, ".local", "bench", "postgres")
		}
		pg, err := localstack.StartPostgres(ctx, opts)
		if err != nil {
			return fmt.Errorf("start PostgreSQL: %w", err)
		}
		defer pg.Stop()
		o.dbURL = pg.URL()
		logf("local PostgreSQL on port %d (data kept in .local/bench)", pg.Port)
	}
	if o.redisURL == "" {
		rs, err := localstack.StartRedis(ctx, localstack.RedisOptions{})
		if err != nil {
			return fmt.Errorf("start Redis: %w", err)
		}
		defer rs.Stop()
		o.redisURL = rs.URL()
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
	if err := ensureSamples(ctx, pool, o.samples); err != nil {
		return err
	}
	ropt, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return fmt.Errorf("redis URL: %w", err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}

	// The API is served as the functions run in the cluster: as the application role,
	// under row-level security (the samples were written by the owner above).
	app, err := appPool(ctx, o.dbURL, o.concurrency+2)
	if err != nil {
		return err
	}
	defer app.Close()
	if rls, err := database.RowSecurity(ctx, app); err != nil || rls != "enforced" {
		return fmt.Errorf("serving role: row-level security %q, %v (want enforced)", rls, err)
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	uncached, err := sqalapi.New(database.NewDB(app), sqalapi.Options{Logger: quiet})
	if err != nil {
		return err
	}
	cached, err := sqalapi.New(database.NewDB(app), sqalapi.Options{Redis: rdb, Logger: quiet,
		Config: sqalapi.Config{CacheTTL: time.Hour, CacheTimeout: time.Second}})
	if err != nil {
		return err
	}
	uURL, stopU, err := serve(uncached)
	if err != nil {
		return err
	}
	defer stopU()
	cURL, stopC, err := serve(cached)
	if err != nil {
		return err
	}
	defer stopC()

	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM sensor_samples`).Scan(&n); err != nil {
		return err
	}
	scenarios := []scenario{
		{"dashboard overview", "uncached", uURL + "/api/sqal/dashboard/overview", "< 100 ms (p50)", func(r result) bool { return r.p50 < 100*time.Millisecond }},
		{"dashboard overview", "cached", cURL + "/api/sqal/dashboard/overview", "p99 < 5 ms", func(r result) bool { return r.p99 < 5*time.Millisecond }},
		{"samples list (limit 100)", "uncached", uURL + "/api/sqal/samples", "p99 < 20 ms", func(r result) bool { return r.p99 < 20*time.Millisecond }},
		{"grade distribution (7 d)", "uncached", uURL + "/api/sqal/stats/grade-distribution", "", nil},
		{"grade distribution (7 d)", "cached", cURL + "/api/sqal/stats/grade-distribution", "p99 < 5 ms", func(r result) bool { return r.p99 < 5*time.Millisecond }},
		{"lots aggregated", "uncached", uURL + "/api/sqal/integration/lots-aggregated", "", nil},
		{"hourly stats (7 d)", "uncached", uURL + "/api/sqal/stats/hourly", "", nil},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency * 2}}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(out, "bench-read: %d samples, %d clients, %s per scenario, %d CPUs, load average %s\n\n",
		n, o.concurrency, o.duration, runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "endpoint\tcache\trequests\treq/s\tp50\tp99\tmax\ttarget\t")
	for _, s := range scenarios {
		r, err := run(ctx, client, s.url, o)
		if err != nil {
			return fmt.Errorf("%s (%s): %w", s.name, s.cache, err)
		}
		verdict := s.target
		if s.ok != nil {
			if s.ok(r) {
				verdict += " ok"
			} else {
				verdict += " MISSED"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", s.name, s.cache, r.n, r.rps, ms(r.p50), ms(r.p99), ms(r.max), verdict)
	}
	return tw.Flush()
}

type scenario struct {
	name, cache, url, target string
	ok                       func(result) bool
}

type result struct {
	n             int
	rps           float64
	p50, p99, max time.Duration
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// run warms the endpoint up, then lets concurrency clients call it for the duration.
func run(ctx context.Context, c *http.Client, url string, o options) (result, error) {
	for i := 0; i < 5; i++ {
		if err := get(ctx, c, url); err != nil {
			return result{}, err
		}
	}
	var (
		mu   sync.Mutex
		lats []time.Duration
		ferr error
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := get(ctx, c, url); err != nil {
					mu.Lock()
					ferr = err
					mu.Unlock()
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if ferr != nil {
		return result{}, ferr
	}
	if len(lats) == 0 {
		return result{}, errors.New("no request completed")
	}
	slices.Sort(lats)
	q := func(p float64) time.Duration { return lats[min(len(lats)-1, int(p*float64(len(lats))))] }
	return result{n: len(lats), rps: float64(len(lats)) / el.Seconds(), p50: q(0.50), p99: q(0.99), max: lats[len(lats)-1]}, nil
}

func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// serve starts h on a loopback port.
func serve(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	// Requests act for the default organisation, as the auth middleware's open mode does.
	scoped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(tenant.With(r.Context(), tenant.Org(tenant.DefaultOrganization))))
	})
	srv := &http.Server{Handler: scoped, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// ensureSamples generates data when the database holds fewer samples than asked.
func ensureSamples(ctx context.Context, db *pgxpool.Pool, want int) error {
	var have int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM sensor_samples`).Scan(&have); err != nil {
		return fmt.Errorf("count samples: %w", err)
	}
	if have >= int64(want) {
		logf("reusing %d samples", have)
		return nil
	}
	logf("generating %d samples (COPY)…", want)
	start := time.Now()
	st, err := datagen.Generate(ctx, db, datagen.Options{Samples: want, Days: 30, DevicesPerSite: 4, Lots: 200,
		FirstLot: 3400, Seed: 1, Batch: 100000, Truncate: true, Now: time.Now().UTC()}, nil)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	logf("generated %d samples and %d alerts in %s", st.Samples, st.Alerts, time.Since(start).Round(time.Second))
	return nil
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench-read: "+format+"\n", args...) }

// appPool connects to dbURL as the application role (migration 00060): with
// BENCH_APP_DATABASE_URL when set, else the same server and database as sqal_app, which
// the throwaway server lets log in without a password.
func appPool(ctx context.Context, dbURL string, conns int) (*pgxpool.Pool, error) {
	u := os.Getenv("BENCH_APP_DATABASE_URL")
	if u == "" {
		var err error
		if u, err = migrate.LocalAppURL(ctx, dbURL); err != nil {
			return nil, err
		}
	}
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return nil, fmt.Errorf("application database URL: %w", err)
	}
	cfg.MaxConns = int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect as %s: %w", migrate.AppRole, err)
	}
	return pool, nil
}
