package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/localstack"
)

// State describes the shared test PostgreSQL server of this workspace.
type State struct {
	PostgresURL string    `json:"postgres_url"`
	PostgresPID int       `json:"postgres_pid"`
	PostgresDir string    `json:"postgres_dir"`
	StartedAt   time.Time `json:"started_at"`
}

// Dir is the folder holding the shared test servers' state: .local/testenv at the
// workspace root (the nearest parent folder with a go.work), else a folder in the
// system temporary folder.
func Dir() string {
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
				return filepath.Join(d, ".local", "testenv")
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("sqal-testenv-%d", os.Getuid()))
}

// Up returns the shared test server, starting it when it is not running. Safe to
// call from many processes at once: they serialise on a lock file.
func Up(ctx context.Context) (State, error) {
	dir := Dir()
	unlock, err := lockDir(dir)
	if err != nil {
		return State{}, err
	}
	defer unlock()

	if st, err := readState(dir); err == nil && healthy(ctx, st) {
		return st, nil
	} else if err == nil {
		_ = localstack.StopDetached(st.PostgresPID, "postgres", 15*time.Second)
	}

	pgDir := filepath.Join(dir, "pg")
	// A new cluster every start: the old one belonged to a server that died.
	if err := os.RemoveAll(pgDir); err != nil {
		return State{}, fmt.Errorf("remove old test cluster: %w", err)
	}
	opts := localstack.PostgresOptions{Dir: pgDir, Detached: true, MaxConnections: 300}
	pg, err := localstack.StartPostgres(ctx, opts)
	if err != nil {
		// The postgres account may not reach the project folder (a home directory
		// with mode 0700): use the system temporary folder instead.
		opts.Dir = filepath.Join(os.TempDir(), fmt.Sprintf("sqal-testenv-pg-%d", os.Getuid()))
		_ = os.RemoveAll(opts.Dir)
		var err2 error
		if pg, err2 = localstack.StartPostgres(ctx, opts); err2 != nil {
			return State{}, fmt.Errorf("start test postgres: %w (in %s: %v)", err, opts.Dir, err2)
		}
	}
	st := State{PostgresURL: pg.URL(), PostgresPID: pg.PID, PostgresDir: pg.Dir, StartedAt: time.Now().UTC()}
	if err := writeState(dir, st); err != nil {
		_ = pg.Stop()
		return State{}, err
	}
	return st, nil
}

// Down stops the shared test server and removes its files. Tests running at that
// moment fail; `make test` calls it after every package ran.
func Down(ctx context.Context) error {
	dir := Dir()
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := readState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := localstack.StopDetached(st.PostgresPID, "postgres", 30*time.Second); err != nil {
		return fmt.Errorf("stop test postgres: %w", err)
	}
	if err := os.RemoveAll(st.PostgresDir); err != nil {
		return fmt.Errorf("remove test cluster: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, "state.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove test state: %w", err)
	}
	return nil
}

// healthy reports whether the recorded server still runs and answers.
func healthy(ctx context.Context, st State) bool {
	if !localstack.Alive(st.PostgresPID, "postgres") {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, st.PostgresURL)
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	return conn.Ping(cctx) == nil
}

// lockDir takes an exclusive lock on dir/lock, blocking until it is free. The lock
// dies with the process, so a crashed test leaves nothing locked.
func lockDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func readState(dir string) (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("read test state: %w", err)
	}
	return st, nil
}

func writeState(dir string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write test state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "state.json")); err != nil {
		return fmt.Errorf("write test state: %w", err)
	}
	return nil
}
