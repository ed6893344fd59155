// Package migrate applies, rolls back and reports the product's schema migrations
// (module migrations, goose SQL files) on a PostgreSQL database.
package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for goose
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/sqalfn/sqal/migrations"
)

// Migrator runs migrations on one database. Concurrent migrators on the same database
// (several migration Jobs, parallel test processes) are serialised by a PostgreSQL
// advisory lock held for the whole run.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
}

// Option configures New.
type Option func(*options)

type options struct {
	fsys   fs.FS
	logger *slog.Logger
}

// WithFS migrates from fsys instead of the product's migrations (tests).
func WithFS(fsys fs.FS) Option { return func(o *options) { o.fsys = fsys } }

// WithLogger logs every applied migration to l.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// New opens databaseURL for migrating. Close releases it.
func New(databaseURL string, opts ...Option) (*Migrator, error) {
	o := options{fsys: migrations.FS}
	for _, opt := range opts {
		opt(&o)
	}
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database for migrations: %w", err)
	}
	db.SetMaxOpenConns(2)
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	popts := []goose.ProviderOption{
		goose.WithSessionLocker(locker),
		// Teams own disjoint version ranges and merge in any order: a lower version
		// that arrives after a higher one was applied must still run.
		goose.WithAllowOutofOrder(true),
		goose.WithDisableGlobalRegistry(true),
	}
	if o.logger != nil {
		popts = append(popts, goose.WithSlog(o.logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, o.fsys, popts...)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &Migrator{db: db, provider: p}, nil
}

// Close closes the database handle.
func (m *Migrator) Close() error { return m.provider.Close() }

// Up applies every pending migration.
func (m *Migrator) Up(ctx context.Context) ([]*goose.MigrationResult, error) {
	res, err := m.provider.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate up: %w", err)
	}
	return res, nil
}

// Down rolls back the most recently applied migration.
func (m *Migrator) Down(ctx context.Context) (*goose.MigrationResult, error) {
	res, err := m.provider.Down(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate down: %w", err)
	}
	return res, nil
}

// DownTo rolls back every migration above version (0: all of them).
func (m *Migrator) DownTo(ctx context.Context, version int64) ([]*goose.MigrationResult, error) {
	res, err := m.provider.DownTo(ctx, version)
	if err != nil {
		return res, fmt.Errorf("migrate down to %d: %w", version, err)
	}
	return res, nil
}

// Redo rolls back the most recently applied migration and applies it again: the
// quick check that a migration being written goes down and up cleanly.
func (m *Migrator) Redo(ctx context.Context) ([]*goose.MigrationResult, error) {
	down, err := m.provider.Down(ctx)
	if err != nil {
		return nil, fmt.Errorf("redo: down: %w", err)
	}
	up, err := m.provider.ApplyVersion(ctx, down.Source.Version, true)
	if err != nil {
		return []*goose.MigrationResult{down}, fmt.Errorf("redo: up %d: %w", down.Source.Version, err)
	}
	return []*goose.MigrationResult{down, up}, nil
}

// Status reports every known migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	return st, nil
}

// Version is the highest applied version (0 when none).
func (m *Migrator) Version(ctx context.Context) (int64, error) {
	v, err := m.provider.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migration version: %w", err)
	}
	return v, nil
}

// HasPending reports whether some migration is not applied yet.
func (m *Migrator) HasPending(ctx context.Context) (bool, error) {
	ok, err := m.provider.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("check pending migrations: %w", err)
	}
	return ok, nil
}

// Up applies every pending migration on databaseURL: the one call a local runner
// or a test needs.
func Up(ctx context.Context, databaseURL string, opts ...Option) error {
	m, err := New(databaseURL, opts...)
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Up(ctx)
	return err
}

// Fingerprint identifies a migration set: a hash of every file name and content
// of fsys (nil: the product's migrations). Two binaries built from the same
// migrations have the same fingerprint; any added or edited file changes it.
func Fingerprint(fsys fs.FS) (string, error) {
	if fsys == nil {
		fsys = migrations.FS
	}
	var names []string
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, path)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("list migrations: %w", err)
	}
	if len(names) == 0 {
		return "", errors.New("no migration files")
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		f, err := fsys.Open(n)
		if err != nil {
			return "", fmt.Errorf("read migration %s: %w", n, err)
		}
		fmt.Fprintf(h, "%s\x00", n)
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("read migration %s: %w", n, err)
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// AppRole is the role the functions connect as (migration 00060 creates it NOLOGIN): not
// a superuser, not the owner of any table, subject to row-level security.
const AppRole = "sqal_app"

// EnableAppLogin lets AppRole log in, with password when it is not empty (a server
// that trusts local connections, like the laptop stack's, needs none). It runs after
// the migrations, with the owner's URL: roles are global to a PostgreSQL cluster, so
// this is deployment, not schema.
func EnableAppLogin(ctx context.Context, databaseURL, password string) error {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	// ALTER ROLE takes no bind parameters: quote the password with format('%L').
	var stmt string
	if password == "" {
		stmt = "ALTER ROLE " + AppRole + " LOGIN"
	} else if err := db.QueryRowContext(ctx, `SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)`,
		AppRole, password).Scan(&stmt); err != nil {
		return fmt.Errorf("prepare login of %s: %w", AppRole, err)
	}
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("let %s log in: %w", AppRole, err)
	}
	return nil
}

// LocalAppURL lets AppRole log in without a password, for a server that trusts local
// connections (the laptop stack's, the benchmarks' throwaway servers), and returns
// databaseURL with AppRole as its user: how the functions connect there.
func LocalAppURL(ctx context.Context, databaseURL string) (string, error) {
	if err := EnableAppLogin(ctx, databaseURL, ""); err != nil {
		return "", err
	}
	return AppURL(databaseURL, "")
}

// AppURL is databaseURL with AppRole (and password) as its user.
func AppURL(databaseURL, password string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("database URL is not a URL (postgres://...)")
	}
	if password == "" {
		u.User = url.User(AppRole)
	} else {
		u.User = url.UserPassword(AppRole, password)
	}
	return u.String(), nil
}
