package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/localstack"
)

// repoRoot walks up to go.work: the test runs from its package folder.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test folder")
		}
		dir = parent
	}
}

// functionNames lists functions/<name> folders with a cmd/ main: every Knative Service
// of the product, whatever was added since this test was written.
func functionNames(t testing.TB, root string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(root, "functions", e.Name(), "cmd", "main.go")); e.IsDir() && err == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// buildBinaries builds each package (name -> import path relative to root) into binDir
// the way ko builds images (CGO_ENABLED=0, -trimpath, stripped), two at a time. binDir
// lives under .local/ and is kept: go build does not relink a binary that is up to
// date, so a second run pays only for what changed.
func buildBinaries(t testing.TB, root, binDir string, pkgs map[string]string) map[string]string {
	t.Helper()
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, 2)
	for name, pkg := range pkgs {
		bin := filepath.Join(binDir, name)
		out[name] = bin
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("go build %s: %w\n%s", pkg, err, b))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// freePort is a port for a process started later (localstack.FreePort: outside the
// ephemeral range, so the processes' own database connections cannot take it first).
func freePort(t testing.TB) int {
	t.Helper()
	p, err := localstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// process is one function (or the broker) run as its own OS process, as a pod would.
type process struct {
	name    string
	bin     string
	port    int
	env     map[string]string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
	exits  []int // exit codes of the runs that ended
}

func (p *process) url() string { return "http://127.0.0.1:" + strconv.Itoa(p.port) }

// start runs the binary with exactly p.env (plus PATH): nothing of the test's own
// environment leaks into the function. Output is appended to p.logPath.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range p.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	fmt.Fprintf(logf, "=== rehearsal: start #%d of %s at %s\n", p.starts+1, p.name, time.Now().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	p.starts++
	done := p.done
	go func() {
		_ = cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exits = append(p.exits, cmd.ProcessState.ExitCode())
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// running reports whether the current run is alive.
func (p *process) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// history returns how often the process was started and the exit codes of the runs
// that ended.
func (p *process) history() (starts int, exits []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts, slices.Clone(p.exits)
}

// waitReady polls /readyz until it answers 200, the process dies or ctx ends.
func (p *process) waitReady(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	client := &http.Client{Timeout: time.Second}
	for {
		if !p.running() {
			return 0, fmt.Errorf("%s exited before it was ready:\n%s", p.name, p.tail(30))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url()+"/readyz", nil)
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s not ready: %w\n%s", p.name, ctx.Err(), p.tail(30))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM, as the kubelet does, and waits for the exit within grace; past
// it the process is killed and reported. It returns the exit code and how long the
// drain took.
func (p *process) stop(grace time.Duration) (int, time.Duration, error) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return 0, 0, fmt.Errorf("%s was never started", p.name)
	}
	start := time.Now()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode(), 0, fmt.Errorf("%s had already exited (code %d):\n%s", p.name, cmd.ProcessState.ExitCode(), p.tail(30))
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return -1, 0, fmt.Errorf("SIGTERM %s: %w", p.name, err)
	}
	select {
	case <-done:
		return cmd.ProcessState.ExitCode(), time.Since(start), nil
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
		return -1, time.Since(start), fmt.Errorf("%s did not exit within %s of SIGTERM; killed:\n%s", p.name, grace, p.tail(30))
	}
}

// tail returns the last n lines of the process's log.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
