// Package localstack starts throwaway PostgreSQL and Redis servers for the local
// runner (`make run`) and for tests: Debian binaries on free loopback ports, data in a
// project folder, and no process left behind when the parent stops.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// freePort is FreePort; the Start functions also retry when their server fails to bind.
func freePort() (int, error) { return FreePort() }

// FreePort returns a loopback TCP port that is free now, for a server started later.
//
// It is taken below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768
// and up by default) when it can: listen(":0") hands out a port of that range, the range
// every outgoing connection takes its local port from, so until the server binds it any
// client connection of any process may take it ("bind: address already in use", seen
// when a test started a dozen servers, each opening database connections). Below the
// range only a server binding that very port can. A port is never handed out twice by
// one process.
func FreePort() (int, error) {
	low := ephemeralLow()
	const floor = 10000
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		if low <= floor+100 {
			break
		}
		p := floor + rand.IntN(low-floor)
		if handedOut[p] {
			continue
		}
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			l.Close()
			handedOut[p] = true
			return p, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var (
	portsMu   sync.Mutex
	handedOut = map[int]bool{}
)

// ephemeralLow is the first port of the kernel's ephemeral range (Linux; 32768 when it
// cannot be read).
func ephemeralLow() int {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				return n
			}
		}
	}
	return 32768
}

// waitTCP waits until something accepts connections on 127.0.0.1:port, the process
// exits (exited is closed) or ctx ends.
func waitTCP(ctx context.Context, port int, exited <-chan struct{}) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", addr, ctx.Err())
		case <-exited:
			return errExited
		case <-time.After(5 * time.Millisecond):
		}
	}
}

var errExited = errors.New("server process exited during start")

// procAttr returns the process attributes of a server child. A detached server gets
// its own session and survives its parent (the shared test servers); an attached one
// gets SIGTERM-on-parent-death so that even a killed parent leaves nothing behind.
func procAttr(detached bool, cred *syscall.Credential) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Credential: cred}
	if detached {
		a.Setsid = true
	} else {
		// Own process group: a Ctrl-C in the terminal reaches the parent, which then
		// stops the servers in order (Stop) instead of them racing the parent's shutdown.
		a.Setpgid = true
		a.Pdeathsig = syscall.SIGTERM
	}
	return a
}

// serverUser is the account PostgreSQL runs as: itself unless we are root, which
// PostgreSQL refuses, then the "postgres" account of the Debian package.
func serverUser() (*syscall.Credential, *user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, nil, fmt.Errorf("running as root needs the postgres account (install the postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, u, nil
}

// waitProcess returns a channel closed when cmd has exited, after which err holds
// the exit status.
func waitProcess(cmd *exec.Cmd) (<-chan struct{}, *error) {
	done := make(chan struct{})
	var err error
	go func() {
		err = cmd.Wait()
		close(done)
	}()
	return done, &err
}

// stopProcess sends sig, then SIGKILL if the process is still there after grace.
func stopProcess(p *os.Process, done <-chan struct{}, sig os.Signal, grace time.Duration) error {
	if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal pid %d: %w", p.Pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(grace):
	}
	_ = p.Kill()
	<-done
	return fmt.Errorf("pid %d did not stop within %s: killed", p.Pid, grace)
}

// StopDetached stops a detached server started by another process (the shared test
// servers) given its pid and the executable name it must have ("postgres",
// "redis-server"), so that a recycled pid is never signalled. It waits until the
// process is gone.
func StopDetached(pid int, name string, grace time.Duration) error {
	if !Alive(pid, name) {
		return nil
	}
	sig := syscall.SIGTERM
	if name == "postgres" {
		sig = syscall.SIGINT // fast shutdown: do not wait for idle sessions
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s (pid %d): %w", name, pid, err)
	}
	deadline := time.Now().Add(grace)
	for Alive(pid, name) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("%s (pid %d) did not stop within %s: killed", name, pid, grace)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Alive reports whether process pid exists and runs executable name (zombies
// count as gone).
func Alive(pid int, name string) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// Format: pid (comm) state ...; comm is at most 15 bytes.
	s := string(stat)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open || close+2 >= len(s) {
		return false
	}
	comm, state := s[open+1:close], s[close+2]
	if state == 'Z' || state == 'X' {
		return false
	}
	if len(name) > 15 {
		name = name[:15]
	}
	return comm == name
}
