// Command bench-startup measures what a cold start of each function costs
// (`make bench-startup`) and prints one table against the targets:
//
//   - binary size, built as ko builds the images (CGO_ENABLED=0, -trimpath, -s -w);
//     target < 25 MB;
//   - time from process start to ready (first 200 from /readyz), and the same without
//     the first database round trip (connect, authenticate, ping), which is reported
//     separately; target < 100 ms without it;
//   - idle RSS a few seconds after ready (VmRSS of /proc/<pid>/status); target < 30 MB.
//
// The first database round trip is timed from outside the process: the function's
// DATABASE_URL points at a TCP relay in front of PostgreSQL, which notes when the
// function opens its first connection; the function logs "database connected" when
// its ping returned. PostgreSQL is warmed before measuring. Every function runs with
// the environment Knative gives it (PORT, K_SERVICE, K_REVISION, K_CONFIGURATION,
// FUNCTION_TARGET and DB_MAX_CONNS from knative/services).
//
// Without BENCH_DATABASE_URL / BENCH_REDIS_URL it starts a throwaway PostgreSQL and
// Redis and applies the migrations.
package main

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/clusterenv"
	"github.com/sqalfn/sqal/shared/localstack"
)

// Targets of issue 7.
const (
	targetSize  = 25 << 20
	targetReady = 100 * time.Millisecond
	targetRSS   = 30 << 20
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

type options struct {
	runs      int
	idle      time.Duration
	binDir    string
	functions string
	build     bool
}

func realMain(ctx context.Context, args []string, out io.Writer) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	var o options
	fs := flag.NewFlagSet("bench-startup", flag.ContinueOnError)
	fs.IntVar(&o.runs, "runs", 5, "cold starts per function (the median is reported)")
	fs.DurationVar(&o.idle, "idle", 2*time.Second, "idle time after ready before reading RSS")
	fs.StringVar(&o.binDir, "bin", filepath.Join(root, ".local", "bench-startup", "bin"), "folder of the function binaries")
	fs.StringVar(&o.functions, "functions", "", "comma-separated functions (default: every functions/<name>)")
	fs.BoolVar(&o.build, "build", true, "build the binaries into -bin first (go build skips what is up to date)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := allFunctions(root)
	if o.functions != "" {
		names = strings.Split(o.functions, ",")
	}
	if o.build {
		start := time.Now()
		if err := build(ctx, root, o.binDir, names); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench-startup: %d binaries built (static, trimmed) in %s\n", len(names), time.Since(start).Round(time.Millisecond))
	}

	stack, err := localstack.Start(ctx, localstack.StackOptions{
		DatabaseURL: os.Getenv("BENCH_DATABASE_URL"), RedisURL: os.Getenv("BENCH_REDIS_URL"), Migrate: true,
	})
	if err != nil {
		return fmt.Errorf("start PostgreSQL and Redis: %w", err)
	}
	defer stack.Stop()
	// Warm PostgreSQL (catalog caches, the first backend fork's page faults) so that the
	// first round trip measured is the one a function pays against a running server.
	dbRTT, err := warmDB(ctx, stack.DatabaseURL)
	if err != nil {
		return err
	}

	var rows []result
	for _, name := range names {
		r, err := measure(ctx, root, o, name, stack)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rows = append(rows, r)
	}
	printTable(out, rows, o, dbRTT)
	return nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found: run bench-startup from the repository")
		}
		dir = parent
	}
}

func allFunctions(root string) []string {
	var out []string
	entries, _ := os.ReadDir(filepath.Join(root, "functions"))
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, "functions", e.Name(), "cmd", "main.go")); e.IsDir() && err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// build compiles each function as ko does for the images, two at a time.
func build(ctx context.Context, root, binDir string, names []string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, 2)
	for _, name := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w",
				"-o", filepath.Join(binDir, name), "./functions/"+name+"/cmd")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("build %s: %w\n%s", name, err, b))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// warmDB opens a few connections and returns the median cost of a fresh connection
// plus a ping, as seen from this process (for comparison with the functions' own).
func warmDB(ctx context.Context, dbURL string) (time.Duration, error) {
	var ds []time.Duration
	for range 7 {
		start := time.Now()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return 0, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		err = conn.Ping(ctx)
		ds = append(ds, time.Since(start))
		conn.Close(ctx)
		if err != nil {
			return 0, fmt.Errorf("ping PostgreSQL: %w", err)
		}
	}
	return median(ds[2:]), nil
}

type result struct {
	name      string
	size      int64
	static    bool
	ready     time.Duration // process start -> /readyz 200 (median)
	dbFirst   time.Duration // first connection accepted -> "database connected" (median; 0 without DB)
	readyNoDB time.Duration // median of ready - dbFirst per run
	listen    time.Duration // process start -> "serving" logged (median)
	rss       int64
	exitCodes []int
}

// measure starts the function o.runs times; the last run also idles and reads RSS.
func measure(ctx context.Context, root string, o options, name string, stack *localstack.Stack) (result, error) {
	bin := filepath.Join(o.binDir, name)
	r := result{name: name}
	st, err := os.Stat(bin)
	if err != nil {
		return r, err
	}
	r.size = st.Size()
	r.static = isStatic(bin)
	env, err := clusterenv.ServiceEnv(root, name)
	if err != nil {
		return r, err
	}
	var ready, db, noDB, listen []time.Duration
	for i := range o.runs {
		last := i == o.runs-1
		run, err := startOnce(ctx, bin, name, env, stack, last, o.idle)
		if err != nil {
			return r, err
		}
		ready = append(ready, run.ready)
		db = append(db, run.db)
		noDB = append(noDB, run.ready-run.db)
		listen = append(listen, run.listen)
		r.exitCodes = append(r.exitCodes, run.exit)
		if last {
			r.rss = run.rss
		}
	}
	r.ready, r.dbFirst, r.readyNoDB, r.listen = median(ready), median(db), median(noDB), median(listen)
	return r, nil
}

type run struct {
	ready, db, listen time.Duration
	rss               int64
	exit              int
}

// startOnce runs one cold start: the function's DATABASE_URL goes through a fresh TCP
// relay that times the first connection.
func startOnce(ctx context.Context, bin, name string, kenv map[string]string, stack *localstack.Stack, idle bool, idleFor time.Duration) (run, error) {
	var r run
	relay, err := newRelay(stack.DatabaseURL)
	if err != nil {
		return r, err
	}
	defer relay.Close()
	port, err := localstack.FreePort()
	if err != nil {
		return r, err
	}
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range kenv {
		env = append(env, k+"="+v)
	}
	env = append(env,
		"PORT="+strconv.Itoa(port), "K_SERVICE="+name, "K_REVISION="+name+"-00001", "K_CONFIGURATION="+name,
		"DATABASE_URL="+relay.url, "REDIS_URL="+stack.RedisURL,
		// Only the relay publishes; nothing is sent during a start.
		"BROKER_URL=http://127.0.0.1:9/sqal/default", "AUTH_MODE=open", "LOG_LEVEL=info")
	cmd := exec.Command(bin)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	exited := make(chan struct{})
	lines := make(chan logLine, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l logLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(exited) }()
	kill := func() { _ = cmd.Process.Kill(); <-exited }

	// Up to "serving": the log says when the DB was connected and the port listens.
	var dbConnected, serving time.Time
	deadline := time.After(30 * time.Second)
	for serving.IsZero() {
		select {
		case l, ok := <-lines:
			if !ok {
				<-exited
				return r, fmt.Errorf("exited before serving: %s", stderr.String())
			}
			switch l.Msg {
			case "database connected":
				dbConnected = l.Time
			case "serving":
				serving = l.Time
			}
		case <-deadline:
			kill()
			return r, errors.New("not serving after 30 s")
		}
	}
	go func() { //nolint:revive // drain the rest of the log so the child never blocks on it
		for range lines {
		}
	}()
	client := &http.Client{Timeout: time.Second}
	for {
		res, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 30*time.Second {
			kill()
			return r, errors.New("not ready after 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	r.ready = time.Since(start)
	r.listen = serving.Sub(start)
	if first := relay.firstAccept(); !first.IsZero() && !dbConnected.IsZero() {
		r.db = dbConnected.Sub(first)
	}
	if idle {
		time.Sleep(idleFor)
		r.rss, err = vmRSS(cmd.Process.Pid)
		if err != nil {
			kill()
			return r, err
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		r.exit = cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		kill()
		r.exit = -1
	}
	return r, nil
}

type logLine struct {
	Time time.Time `json:"time"`
	Msg  string    `json:"msg"`
}

// tcpRelay forwards connections to PostgreSQL and notes when the first one arrived.
type tcpRelay struct {
	ln    net.Listener
	url   string
	mu    sync.Mutex
	first time.Time
	wg    sync.WaitGroup
}

func newRelay(dbURL string) (*tcpRelay, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, err
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u.Host = ln.Addr().String()
	r := &tcpRelay{ln: ln, url: u.String()}
	r.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			if r.first.IsZero() {
				r.first = time.Now()
			}
			r.mu.Unlock()
			go pipe(c, target)
		}
	})
	return r, nil
}

func (r *tcpRelay) firstAccept() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first
}

func (r *tcpRelay) Close() { _ = r.ln.Close(); r.wg.Wait() }

func pipe(c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
}

// isStatic reports an ELF executable without a program interpreter (no dynamic loader).
func isStatic(bin string) bool {
	f, err := elf.Open(bin)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read RSS: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mark(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISS"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func printTable(out io.Writer, rows []result, o options, dbRTT time.Duration) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(out, "Startup per function: median of %d cold starts; RSS after %s idle. Load average: %s\n",
		o.runs, o.idle, strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	fmt.Fprintf(out, "Targets: static binary < 25 MB, ready < 100 ms without the first DB round trip, idle RSS < 30 MB.\n")
	fmt.Fprintf(out, "A fresh PostgreSQL connection + ping from this process (warm server): %s.\n\n", ms(dbRTT))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "function\tbinary\tstatic\t\tlistening\tready\tfirst DB round trip\tready w/o DB\t\tidle RSS\t\texit on SIGTERM\t")
	missed := 0
	for _, r := range rows {
		sizeOK, readyOK, rssOK := r.size < targetSize && r.static, r.readyNoDB < targetReady, r.rss < targetRSS
		if !sizeOK || !readyOK || !rssOK {
			missed++
		}
		exits := "0"
		for _, c := range r.exitCodes {
			if c != 0 {
				exits = fmt.Sprint(r.exitCodes)
			}
		}
		db := "-"
		if r.dbFirst > 0 {
			db = ms(r.dbFirst)
		}
		fmt.Fprintf(tw, "%s\t%.1f MB\t%v\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f MB\t%s\t%s\t\n",
			r.name, float64(r.size)/(1<<20), r.static, mark(sizeOK), ms(r.listen), ms(r.ready), db,
			ms(r.readyNoDB), mark(readyOK), float64(r.rss)/(1<<20), mark(rssOK), exits)
	}
	_ = tw.Flush()
	if missed == 0 {
		fmt.Fprintf(out, "\nEvery function meets every target.\n")
	} else {
		fmt.Fprintf(out, "\n%d of %d functions miss a target (MISS above).\n", missed, len(rows))
	}
}
