package localstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresOptions configures StartPostgres. The zero value is a fast, non-durable
// server in a temporary folder on a free port.
type PostgresOptions struct {
	// Dir holds the cluster ("data") and the unix socket. An existing cluster there is
	// reused; empty means a new temporary folder, removed by Stop.
	Dir string
	// Port to listen on (127.0.0.1 only); 0 picks a free one.
	Port int
	// Durable keeps fsync and synchronous_commit on. Tests and the local runner do not
	// need durability and run several times faster without it.
	Durable bool
	// MaxConnections is max_connections (default 200: parallel test packages each
	// hold a few pools).
	MaxConnections int
	// BinDir holds initdb and postgres; empty searches the Debian layout, then PATH.
	BinDir string
	// Detached starts the server in its own session so that it outlives this process
	// (shared test servers); Stop still stops it. Attached servers die with the parent.
	Detached bool
	// Log receives the server's output; nil discards it (it is also kept in
	// Dir/postgres.log when Detached).
	Log io.Writer
	// Settings are extra "-c name=value" server settings.
	Settings map[string]string
}

// Postgres is a running throwaway PostgreSQL server.
type Postgres struct {
	Port    int
	Dir     string
	PID     int
	user    string
	cmd     *exec.Cmd
	done    <-chan struct{}
	tempDir bool
}

// URL is the connection URL of database db ("postgres" when empty) over TCP.
func (p *Postgres) URL(db ...string) string {
	name := "postgres"
	if len(db) > 0 && db[0] != "" {
		name = db[0]
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(p.user),
		Host:     "127.0.0.1:" + strconv.Itoa(p.Port),
		Path:     "/" + name,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop shuts the server down ("fast" mode: running sessions are ended) and waits
// for it to exit; a temporary folder is removed.
func (p *Postgres) Stop() error {
	if p == nil || p.cmd == nil {
		return nil
	}
	err := stopProcess(p.cmd.Process, p.done, syscall.SIGINT, 15*time.Second)
	if p.tempDir {
		if rerr := os.RemoveAll(p.Dir); rerr != nil && err == nil {
			err = fmt.Errorf("remove %s: %w", p.Dir, rerr)
		}
	}
	p.cmd = nil
	return err
}

// FindPostgresBin returns the folder holding initdb and postgres: the newest Debian
// /usr/lib/postgresql/<version>/bin, else the folder of initdb on PATH.
func FindPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "postgres")) && isExecutable(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries not found (install the Debian package postgresql, see scripts/ensure-deps.sh)")
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// StartPostgres initialises (when needed) and starts a PostgreSQL server, and returns
// once it accepts connections.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	bin := opts.BinDir
	if bin == "" {
		var err error
		if bin, err = FindPostgresBin(); err != nil {
			return nil, err
		}
	}
	cred, osUser, err := serverUser()
	if err != nil {
		return nil, err
	}
	// The superuser is named after the OS account, as initdb does by default, so
	// that local tools (psql over the socket) work without -U.
	dbUser := "postgres"
	if osUser == nil {
		if u, err := user.Current(); err == nil {
			dbUser = u.Username
		}
	}

	p := &Postgres{Dir: opts.Dir, user: dbUser}
	if p.Dir == "" {
		if p.Dir, err = os.MkdirTemp("", "sqal-pg-"); err != nil {
			return nil, fmt.Errorf("create postgres folder: %w", err)
		}
		p.tempDir = true
	}
	if p.Dir, err = filepath.Abs(p.Dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create postgres folder: %w", err)
	}
	if err := chownForServer(p.Dir, osUser); err != nil {
		p.cleanupTemp()
		return nil, err
	}
	data := filepath.Join(p.Dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		if err := initdb(ctx, bin, data, dbUser, cred); err != nil {
			p.cleanupTemp()
			return nil, err
		}
	}

	for attempt := 0; ; attempt++ {
		err := p.start(ctx, bin, data, cred, opts)
		if err == nil {
			break
		}
		// A free port can be taken between choosing and binding it: try another.
		if opts.Port == 0 && attempt < 3 && errors.Is(err, errExited) {
			continue
		}
		p.cleanupTemp()
		return nil, err
	}
	if err := p.configure(ctx); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Postgres) cleanupTemp() {
	if p.tempDir {
		_ = os.RemoveAll(p.Dir)
	}
}

// chownForServer lets the postgres account own the folder when we run as root.
func chownForServer(dir string, u *user.User) error {
	if u == nil {
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to user %s: %w", dir, u.Username, err)
	}
	// The server must also be able to reach the folder: every parent needs the
	// search permission for others (t.TempDir and MkdirTemp parents are 0700).
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("check %s: %w", d, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("user %s cannot reach %s: folder %s is not searchable by others (chmod o+x it or choose another folder)", u.Username, dir, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func initdb(ctx context.Context, bin, data, dbUser string, cred *syscall.Credential) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", dbUser, "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb %s: %w: %s", data, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func (p *Postgres) start(ctx context.Context, bin, data string, cred *syscall.Credential, opts PostgresOptions) error {
	port := opts.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return err
		}
	}
	maxConns := opts.MaxConnections
	if maxConns == 0 {
		maxConns = 200
	}
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(port),
		"unix_socket_directories": socketDir(p.Dir),
		"max_connections":         strconv.Itoa(maxConns),
		"shared_buffers":          "128MB",
		"logging_collector":       "off",
		"log_min_messages":        "warning",
	}
	if !opts.Durable {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-D", data}
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}

	var tail tailBuffer
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	if opts.Detached {
		// A detached server must not hold a pipe to us (it outlives us): it writes
		// to a file of its own.
		f, err := os.OpenFile(filepath.Join(p.Dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open postgres log: %w", err)
		}
		defer f.Close() // the child has its own descriptor
		cmd.Stdout, cmd.Stderr = f, f
	} else {
		var out io.Writer = io.Discard
		if opts.Log != nil {
			out = opts.Log
		}
		w := io.MultiWriter(out, &tail)
		cmd.Stdout, cmd.Stderr = w, w
	}
	cmd.SysProcAttr = procAttr(opts.Detached, cred)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done, waitErr := waitProcess(cmd)
	p.Port, p.PID, p.cmd, p.done = port, cmd.Process.Pid, cmd, done

	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.waitReady(wctx, done); err != nil {
		if errors.Is(err, errExited) {
			logText := tail.String()
			if opts.Detached {
				logText = readTail(filepath.Join(p.Dir, "postgres.log"))
			}
			p.cmd = nil
			return fmt.Errorf("postgres on port %d: %w (%v): %s", port, errExited, *waitErr, logText)
		}
		_ = p.Stop()
		return err
	}
	return nil
}

// waitReady waits until the server answers queries, not just accepts TCP: during
// recovery it accepts connections but refuses them with "starting up".
func (p *Postgres) waitReady(ctx context.Context, exited <-chan struct{}) error {
	if err := waitTCP(ctx, p.Port, exited); err != nil {
		return err
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, p.URL())
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for postgres on port %d: %w (last error: %v)", p.Port, ctx.Err(), err)
		case <-exited:
			return errExited
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// configure applies settings that depend on how the server was built: lz4 TOAST
// compression makes jsonb writes about twice as fast, but only exists when
// PostgreSQL >= 14 was compiled with lz4 (Debian's is).
func (p *Postgres) configure(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		return fmt.Errorf("connect to configure postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ALTER SYSTEM SET default_toast_compression = 'lz4'"); err == nil {
		if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			return fmt.Errorf("reload postgres configuration: %w", err)
		}
	}
	return nil
}

// socketDir is where the unix socket goes: the server folder, or nowhere (TCP only)
// when its path would exceed the kernel's 107-byte socket path limit.
func socketDir(dir string) string {
	if len(dir)+len("/.s.PGSQL.65535") > 107 {
		return ""
	}
	return dir
}

// tailBuffer keeps the last few KB written to it (server output for error messages).
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(t.b)) }

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strings.TrimSpace(string(b))
}
