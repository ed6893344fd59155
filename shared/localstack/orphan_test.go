package localstack

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServersDieWithParent kills (SIGKILL: no cleanup code runs) a process that
// started servers and checks that the servers go too.
func TestServersDieWithParent(t *testing.T) {
	if os.Getenv("LOCALSTACK_HELPER") != "" {
		t.Skip("helper")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartServers$", "-test.v")
	cmd.Env = append(os.Environ(), "LOCALSTACK_HELPER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var dirs []string
	// A killed parent cannot remove its temporary folders.
	defer func() {
		for _, d := range dirs {
			if d != os.TempDir() {
				os.RemoveAll(d)
			}
		}
	}()
	pids := map[string]int{}
	sc := bufio.NewScanner(out)
	for len(pids) < 2 && sc.Scan() {
		var name string
		var pid int
		var dir string
		if _, err := fmt.Sscanf(strings.TrimSpace(sc.Text()), "PID %s %d %s", &name, &pid, &dir); err == nil {
			pids[name] = pid
			dirs = append(dirs, dir)
		}
	}
	if len(pids) != 2 {
		t.Fatalf("helper reported %v", pids)
	}
	for name, pid := range pids {
		if !Alive(pid, name) {
			t.Fatalf("%s (pid %d) not running before the parent died", name, pid)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for name, pid := range pids {
		for Alive(pid, name) {
			if time.Now().After(deadline) {
				t.Fatalf("%s (pid %d) survived its parent", name, pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestHelperStartServers(t *testing.T) {
	if os.Getenv("LOCALSTACK_HELPER") == "" {
		t.Skip("run by TestServersDieWithParent")
	}
	ctx := context.Background()
	pg, err := StartPostgres(ctx, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := StartRedis(ctx, RedisOptions{NoFallback: true})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("PID postgres " + strconv.Itoa(pg.PID) + " " + pg.Dir)
	fmt.Println("PID redis-server " + strconv.Itoa(r.PID) + " " + r.dir)
	time.Sleep(time.Minute) // killed long before
}
