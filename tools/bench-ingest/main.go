// Command bench-ingest measures the ingest function end to end on one machine
// (issue 3, item 5) and prints one table:
//
//	(a) the ceiling: PostgreSQL COPY of the rows ingest stores (same columns, same
//	    compact raw_message), full and slim frames, the best of -copy-runs runs;
//	(b) end to end over WebSocket against the real ingest binary (built from
//	    functions/ingest/cmd, run as its own process with PORT and DATABASE_URL) with
//	    1, 16 and 64 concurrent devices, full (~140 KB) and slim (no *_raw blocks)
//	    frames: samples/s, p50/p99 ack latency, CPU seconds and peak RSS of the ingest
//	    process, PostgreSQL's CPU per sample (every server process; the COPY runs print
//	    theirs per row), and the ratio (b)/(a);
//	    plus p50/p99 at a fixed 200 samples/s, the idle RSS and the time from process
//	    start to the first ack;
//	(c) rows actually stored vs acked, and stored bytes per full sample against the
//	    same frames stored as jsonb: pg_total_relation_size of sensor_samples (main
//	    fork, TOAST table and its index, every index) over its rows, split into heap,
//	    TOAST and indexes, against pg_total_relation_size of a table holding only the
//	    frame as jsonb.
//
// Unlike the legacy simulator, the clients read every ack (that is what latency is).
// Each device keeps -window frames in flight. PostgreSQL and Redis are throwaway
// servers (shared/localstack); run from anywhere inside the workspace:
//
//	go run ./tools/bench-ingest            # default run: about 2 minutes on an idle 2-core machine
//	go run ./tools/bench-ingest -duration 10s -durable
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	duration time.Duration // measured time per scenario
	warmup   time.Duration
	devices  []int
	window   int
	fixedRPS int
	durable  bool
	copyRows int
	copyRuns int
}

func main() {
	var o options
	var devices string
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "measured time per scenario")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up per scenario (not measured)")
	flag.StringVar(&devices, "devices", "1,16,64", "concurrent devices per scenario")
	flag.IntVar(&o.window, "window", 4, "frames in flight per device (a device sends its next frame before the ack)")
	flag.IntVar(&o.fixedRPS, "rate", 200, "samples/s of the fixed-rate latency run (0 = skip)")
	flag.BoolVar(&o.durable, "durable", false, "PostgreSQL with fsync and synchronous_commit on (default off, like the local runner)")
	flag.IntVar(&o.copyRows, "copy-rows", 1000, "rows per COPY ceiling run")
	flag.IntVar(&o.copyRuns, "copy-runs", 3, "COPY ceiling runs per frame size (the best one is the ceiling)")
	flag.Parse()
	if o.copyRows < 1 || o.copyRuns < 1 || o.window < 1 {
		fmt.Fprintln(os.Stderr, "bench-ingest: -copy-rows, -copy-runs and -window must be at least 1")
		os.Exit(2)
	}
	for _, f := range splitInts(devices) {
		o.devices = append(o.devices, f)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-ingest:", err)
		os.Exit(1)
	}
}

func splitInts(s string) []int {
	var out []int
	n, have := 0, false
	for _, c := range s + "," {
		switch {
		case c >= '0' && c <= '9':
			n, have = n*10+int(c-'0'), true
		case c == ',' && have:
			out = append(out, n)
			n, have = 0, false
		}
	}
	return out
}
