// Command simulator plays SQAL quality-control stations against /ws/sensors/: each
// station connects, waits for connection_established, says esp32_hello, sends
// sensor_data frames shaped like the legacy ESP32 simulator's at a steady rate and a
// heartbeat every 30 s, reads the acks, and reconnects with backoff (sending again what
// was not acknowledged) when the link drops. See README.md for flags and variables.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sqalfn/sqal/tools/simulator/station"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}

// env returns the variable's value, or def when it is unset or empty.
func env(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func realMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", env(getenv, "SIM_URL", "ws://localhost:8000/ws/sensors/"), "ingest WebSocket URL [SIM_URL]")
	devices := fs.Int("devices", atoi(env(getenv, "SIM_DEVICES", "3")), "number of stations [SIM_DEVICES]")
	sites := fs.String("sites", env(getenv, "SIM_SITES", "LL,LS,MT"), "comma-separated site codes stations are spread over [SIM_SITES]")
	rate := fs.Float64("rate", atof(env(getenv, "SIM_RATE", "1")), "samples per second per station [SIM_RATE]")
	duration := fs.Duration("duration", dur(env(getenv, "SIM_DURATION", "0")), "stop producing after this long, 0 = no limit [SIM_DURATION]")
	count := fs.Int("count", atoi(env(getenv, "SIM_COUNT", "0")), "stop after this many samples in total, 0 = no limit [SIM_COUNT]")
	profile := fs.String("profile", env(getenv, "SIM_PROFILE", "mixed"), "normal | irregular | defective | mixed [SIM_PROFILE]")
	slim := fs.Bool("slim", env(getenv, "SIM_SLIM", "false") == "true", "omit the vl53l8ch_raw and as7341_raw blocks [SIM_SLIM]")
	seed := fs.Uint64("seed", uint64(atoi(env(getenv, "SIM_SEED", "0"))), "random seed, 0 = random [SIM_SEED]")
	window := fs.Int("window", atoi(env(getenv, "SIM_WINDOW", "100")), "unacknowledged samples per station before it waits [SIM_WINDOW]")
	heartbeat := fs.Duration("heartbeat", dur(env(getenv, "SIM_HEARTBEAT", "30s")), "heartbeat interval [SIM_HEARTBEAT]")
	drain := fs.Duration("drain", dur(env(getenv, "SIM_DRAIN", "10s")), "how long to wait for the last acks [SIM_DRAIN]")
	quiet := fs.Bool("quiet", env(getenv, "SIM_QUIET", "false") == "true", "no live progress line [SIM_QUIET]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := station.ParseProfile(*profile)
	if err != nil {
		return err
	}
	if *devices < 1 || *rate <= 0 || *count < 0 || *window < 1 {
		return fmt.Errorf("devices, rate and window must be positive and count not negative")
	}
	if *duration < 0 || *heartbeat <= 0 || *drain < 0 {
		return fmt.Errorf("duration and drain must not be negative, heartbeat must be positive")
	}
	var siteList []string
	for _, s := range strings.Split(*sites, ",") {
		s = strings.ToUpper(strings.TrimSpace(s))
		if len(s) != 2 {
			return fmt.Errorf("site code %q: must be two letters", s)
		}
		siteList = append(siteList, s)
	}
	cfg := station.Config{
		URL: *url, Devices: *devices, Sites: siteList, Rate: *rate, Duration: *duration, Count: *count,
		Profile: p, Slim: *slim, Seed: *seed, Window: *window, Heartbeat: *heartbeat, Drain: *drain,
		DeviceKey: getenv("SIM_DEVICE_KEY"),
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	sum, err := station.Run(ctx, cfg)
	fmt.Fprintln(stdout, sum)
	if err != nil {
		return err
	}
	if sum.Sent > 0 && sum.Acked+sum.Duplicates == 0 {
		return fmt.Errorf("no sample was acknowledged (is ingest listening on %s?)", *url)
	}
	return nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1 // rejected by the checks above
	}
	return n
}

func atof(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1
	}
	return f
}

func dur(s string) time.Duration {
	if s == "0" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return -1
	}
	return d
}
