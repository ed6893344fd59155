package runtime_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/localstack"
)

var buildDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildTestFn compiles internal/testfn once per test binary.
var buildTestFn = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "testfn")
	if err != nil {
		return "", err
	}
	buildDir = dir
	bin := filepath.Join(dir, "testfn")
	out, err := exec.Command("go", "build", "-o", bin, "./internal/testfn").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build testfn: %v\n%s", err, out)
	}
	return bin, nil
})

func freePort(t *testing.T) string {
	t.Helper()
	p, err := localstack.FreePort() // outside the ephemeral range: see FreePort
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(p)
}

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startTestFn(t *testing.T, env ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	bin, err := buildTestFn()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
		}
	})
	return cmd, out
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("function never became ready")
}

// TestSIGTERMDrainsInFlightRequest is the acceptance test: SIGTERM during a
// slow request lets it complete, the process exits 0, and spans are flushed to the
// OTLP endpoint on the way out.
func TestSIGTERMDrainsInFlightRequest(t *testing.T) {
	var tracePosts atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			_, _ = io.Copy(io.Discard, r.Body)
			tracePosts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()

	port := freePort(t)
	cmd, out := startTestFn(t, "PORT="+port, "K_SERVICE=testfn", "K_REVISION=testfn-00001",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+collector.URL, "SHUTDOWN_GRACE=10s")
	base := "http://127.0.0.1:" + port
	waitReady(t, base)

	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		resp, err := http.Get(base + "/slow?ms=2000")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{code: resp.StatusCode, body: string(b)}
	}()
	time.Sleep(300 * time.Millisecond) // the request is in the handler now
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New connections are refused once shutdown started.
	time.Sleep(200 * time.Millisecond)
	if resp, err := http.Get(base + "/slow?ms=0"); err == nil {
		resp.Body.Close()
		t.Errorf("new request accepted during shutdown: %d", resp.StatusCode)
	}

	res := <-done
	if res.err != nil || res.code != http.StatusOK || !strings.Contains(res.body, `"slept_ms":2000`) {
		t.Fatalf("in-flight request: %d %q %v", res.code, res.body, res.err)
	}
	if elapsed := time.Since(start); elapsed < 2*time.Second {
		t.Errorf("request finished after %s, before its 2 s sleep", elapsed)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("process exit: %v\n%s", err, out)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("process did not exit\n%s", out)
	}
	logs := out.String()
	for _, want := range []string{"graceful shutdown initiated", "graceful shutdown complete", "telemetry flushed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if tracePosts.Load() == 0 {
		t.Errorf("no spans reached the OTLP endpoint\n%s", logs)
	}
	// Every log line is JSON and the request's lines carry its trace id.
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "{") {
			t.Errorf("non-JSON log line: %s", line)
		}
	}
}

func TestFunctionTargetMismatchFailsAtStart(t *testing.T) {
	cmd, out := startTestFn(t, "PORT="+freePort(t), "FUNCTION_TARGET=SomethingElse")
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("process kept running with a wrong FUNCTION_TARGET")
	}
	if !strings.Contains(out.String(), `FUNCTION_TARGET="SomethingElse", but this binary serves function "TestFn"`) {
		t.Errorf("unclear error:\n%s", out)
	}
}

func TestFunctionTargetMatchStarts(t *testing.T) {
	port := freePort(t)
	cmd, out := startTestFn(t, "PORT="+port, "FUNCTION_TARGET=TestFn")
	waitReady(t, "http://127.0.0.1:"+port)
	_ = cmd.Process.Signal(syscall.SIGINT)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, out)
		}
	case <-ctx.Done():
		t.Fatal("no exit after SIGINT")
	}
}
