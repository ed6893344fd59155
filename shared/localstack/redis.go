package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// RedisOptions configures StartRedis. The zero value is a redis-server on a free
// port that keeps nothing on disk, or an in-process server when redis-server is
// not installed.
type RedisOptions struct {
	// Port to listen on (127.0.0.1 only); 0 picks a free one.
	Port int
	// Binary is the redis-server to run; empty searches PATH.
	Binary string
	// Dir is the server's working folder (log file when Detached); empty uses the
	// system temporary folder (nothing is written there).
	Dir string
	// Detached starts the server in its own session so that it outlives this process;
	// an in-process server cannot be detached, so Detached requires redis-server.
	Detached bool
	// NoFallback fails instead of using the in-process server when redis-server is missing.
	NoFallback bool
	// Log receives the server's output; nil discards it.
	Log io.Writer
}

// Redis is a running throwaway Redis server: a redis-server child process, or an
// in-process miniredis when redis-server is missing.
type Redis struct {
	Port int
	PID  int // 0 for the in-process server

	cmd  *exec.Cmd
	done <-chan struct{}
	mini *miniredis.Miniredis
	dir  string
}

// Addr is host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL is the redis:// URL of database 0.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// InProcess reports whether this is the miniredis fallback (which lacks some
// commands, e.g. Lua-heavy ones, and is only as fast as this process).
func (r *Redis) InProcess() bool { return r.mini != nil }

// Stop ends the server and waits for it to exit.
func (r *Redis) Stop() error {
	if r == nil {
		return nil
	}
	if r.mini != nil {
		r.mini.Close()
		r.mini = nil
		return nil
	}
	if r.cmd == nil {
		return nil
	}
	// SIGKILL: the server keeps nothing on disk, and a SIGTERM is only acted on at
	// the next server tick (up to 100 ms), which every test would pay at cleanup.
	err := stopProcess(r.cmd.Process, r.done, syscall.SIGKILL, 10*time.Second)
	r.cmd = nil
	return err
}

// StartRedis starts a Redis server and returns once it accepts connections.
func StartRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	bin := opts.Binary
	if bin == "" {
		p, err := exec.LookPath("redis-server")
		if err != nil {
			if p2 := "/usr/bin/redis-server"; isExecutable(p2) {
				p, err = p2, nil
			}
		}
		if err != nil {
			if opts.NoFallback || opts.Detached {
				return nil, errors.New("redis-server not found (install the Debian package redis-server, see scripts/ensure-deps.sh)")
			}
			return startMiniredis(opts.Port)
		}
		bin = p
	}
	r := &Redis{dir: opts.Dir}
	if r.dir == "" {
		if opts.Detached {
			return nil, errors.New("a detached redis-server needs a Dir for its log")
		}
		// Nothing is written there (no snapshots, no AOF): no folder of its own to
		// leave behind if we are killed.
		r.dir = os.TempDir()
	} else if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create redis folder: %w", err)
	}
	for attempt := 0; ; attempt++ {
		err := r.start(ctx, bin, opts)
		if err == nil {
			return r, nil
		}
		if opts.Port == 0 && attempt < 3 && errors.Is(err, errExited) {
			continue
		}
		return nil, err
	}
}

func (r *Redis) start(ctx context.Context, bin string, opts RedisOptions) error {
	port := opts.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return err
		}
	}
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", r.dir, "--protected-mode", "no",
	}
	var tail tailBuffer
	cmd := exec.Command(bin, args...)
	if opts.Detached {
		f, err := os.OpenFile(filepath.Join(r.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open redis log: %w", err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	} else {
		var out io.Writer = io.Discard
		if opts.Log != nil {
			out = opts.Log
		}
		w := io.MultiWriter(out, &tail)
		cmd.Stdout, cmd.Stderr = w, w
	}
	cmd.SysProcAttr = procAttr(opts.Detached, nil)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done, waitErr := waitProcess(cmd)
	r.Port, r.PID, r.cmd, r.done = port, cmd.Process.Pid, cmd, done
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := waitTCP(wctx, port, done); err != nil {
		if errors.Is(err, errExited) {
			r.cmd = nil
			text := tail.String()
			if opts.Detached {
				text = readTail(filepath.Join(r.dir, "redis.log"))
			}
			return fmt.Errorf("redis-server on port %d: %w (%v): %s", port, errExited, *waitErr, text)
		}
		_ = r.Stop()
		return err
	}
	return nil
}

func startMiniredis(port int) (*Redis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:" + strconv.Itoa(port)); err != nil {
		return nil, fmt.Errorf("start in-process redis: %w", err)
	}
	p, _ := strconv.Atoi(m.Port())
	return &Redis{Port: p, mini: m}, nil
}
