// Package testenv gives tests a real PostgreSQL and a real Redis.
//
// PostgreSQL: one server per machine, shared by every test process. With
// TEST_DATABASE_URL set, that server is used (the URL's user must be allowed to create
// databases); otherwise the first test process starts a throwaway server with
// localstack and records it under .local/testenv/ at the workspace root (the folder
// holding go.work), and later processes reuse it. `scripts/testenv.sh down` (run by
// `make test` at the end) stops it. The migrations are applied once per migration set
// to a template database (named after a hash of the embedded files, built under an
// advisory lock), and every test gets its own database cloned from it with CREATE
// DATABASE ... TEMPLATE (tens of milliseconds), dropped when the test ends.
//
// Redis: every test that asks gets its own redis-server (an in-process server when
// redis-server is missing), stopped when the test ends. Pub/sub channels are global to
// a server whatever the database number, so only a server of its own isolates a test
// completely; starting one costs a few milliseconds. With TEST_REDIS_URL set, tests
// share that server instead: each gets a database number of its own (claimed with a
// lock key, flushed before use), which isolates keys but not pub/sub channels.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/localstack"
	"github.com/sqalfn/sqal/shared/migrate"
)

// Environment variables read by this package.
const (
	EnvDatabaseURL = "TEST_DATABASE_URL" // admin URL of an existing server
	EnvRedisURL    = "TEST_REDIS_URL"    // an existing Redis shared by tests (database numbers 1-15)
)

// DB returns a pool on a fresh database cloned from a migrated template
// database (all migrations applied); the database is dropped when t ends.
func DB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return open(t, DBURL(t))
}

// DBURL is DB but returns the connection URL of the fresh database.
func DBURL(t testing.TB) string {
	t.Helper()
	s := server(t)
	tmpl, err := s.template()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return s.newDatabase(t, tmpl)
}

// AppRole is the role the functions connect as (migration 00060): not a superuser, not
// a table owner, subject to row-level security.
const AppRole = migrate.AppRole

// AppDB returns a pool on a fresh migrated database (like DB) connected as AppRole, so
// the code under test runs under row-level security, and the owner's pool on the same
// database for seeding and checking what the application cannot see.
func AppDB(t testing.TB) (app, owner *pgxpool.Pool) {
	t.Helper()
	u := DBURL(t)
	return open(t, AppURL(t, u)), open(t, u)
}

// Querier is what Strings reads through: a *pgxpool.Pool, or a *database.DB whose
// statements run in the organisation scope of ctx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Strings runs query on db and returns the first column of every row: the sample ids
// a scope sees, say.
func Strings(t testing.TB, ctx context.Context, db Querier, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		t.Fatalf("testenv: %s: %v", query, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("testenv: %s: %v", query, err)
	}
	return out
}

// OrgsOf runs query on pool (the owner's, to see every organisation's rows) and maps
// each row's first column to its second, an organisation id: where rows landed.
func OrgsOf(t testing.TB, pool *pgxpool.Pool, query string) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), query)
	if err != nil {
		t.Fatalf("testenv: %s: %v", query, err)
	}
	out := map[string]string{}
	for rows.Next() {
		var k, org string
		if err := rows.Scan(&k, &org); err != nil {
			t.Fatalf("testenv: %s: %v", query, err)
		}
		out[k] = org
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("testenv: %s: %v", query, err)
	}
	return out
}

// AppURL returns dbURL (a URL from DBURL) with AppRole as the user. The test server
// trusts local connections, so the role only needs LOGIN, granted here once.
func AppURL(t testing.TB, dbURL string) string {
	t.Helper()
	s := server(t)
	appLoginOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		appLoginErr = migrate.EnableAppLogin(ctx, s.adminURL, "")
	})
	if appLoginErr != nil {
		t.Fatalf("testenv: %v", appLoginErr)
	}
	u, err := migrate.AppURL(dbURL, "")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return u
}

var (
	appLoginOnce sync.Once
	appLoginErr  error
)

func open(t testing.TB, u string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		t.Fatalf("testenv: parse database URL: %v", err)
	}
	cfg.MaxConns = 10
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("testenv: open pool: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the drop registered by DBURL
	return pool
}

// EmptyDBURL returns the URL of a fresh database without any migration applied
// (for tests of the migrations themselves); it is dropped when t ends.
func EmptyDBURL(t testing.TB) string {
	t.Helper()
	return server(t).newDatabase(t, "template0")
}

// Redis returns a client on a Redis no other test shares; closed when t ends.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL(t))
	if err != nil {
		t.Fatalf("testenv: parse redis URL: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// RedisURL is Redis but returns the URL.
func RedisURL(t testing.TB) string {
	t.Helper()
	if shared := os.Getenv(EnvRedisURL); shared != "" {
		u, err := claimRedisDB(t, shared)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		return u
	}
	r, err := localstack.StartRedis(context.Background(), localstack.RedisOptions{})
	if err != nil {
		t.Fatalf("testenv: start redis: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Logf("testenv: stop redis: %v", err)
		}
	})
	return r.URL()
}

// pgServer is the PostgreSQL server of this test process.
type pgServer struct {
	adminURL string
	admin    *pgxpool.Pool

	tmplOnce sync.Once
	tmplName string
	tmplErr  error
}

var (
	serverOnce sync.Once
	theServer  *pgServer
	serverErr  error
)

func server(t testing.TB) *pgServer {
	t.Helper()
	serverOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		adminURL := os.Getenv(EnvDatabaseURL)
		if adminURL == "" {
			st, err := Up(ctx)
			if err != nil {
				serverErr = err
				return
			}
			adminURL = st.PostgresURL
		}
		cfg, err := pgxpool.ParseConfig(adminURL)
		if err != nil {
			serverErr = fmt.Errorf("parse %s: %w", EnvDatabaseURL, err)
			return
		}
		cfg.MaxConns = 4
		// The pool only runs CREATE/DROP DATABASE; idle connections would make the
		// admin database busy for nothing.
		cfg.MaxConnIdleTime = 30 * time.Second
		admin, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			err = admin.Ping(ctx)
		}
		if err != nil {
			serverErr = fmt.Errorf("connect to the test database server: %w", err)
			return
		}
		theServer = &pgServer{adminURL: adminURL, admin: admin}
		theServer.dropAbandoned(ctx)
	})
	if serverErr != nil {
		t.Fatalf("testenv: %v", serverErr)
	}
	return theServer
}

// templateLockKey is the advisory lock that serialises template builds across
// processes.
const templateLockKey = 0x5341_4c54_4d50 // "SALTMP"

// template returns the name of the migrated template database of this binary's
// migration set, building it when no process did yet.
func (s *pgServer) template() (string, error) {
	s.tmplOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		s.tmplName, s.tmplErr = s.buildTemplate(ctx)
	})
	return s.tmplName, s.tmplErr
}

func (s *pgServer) buildTemplate(ctx context.Context) (string, error) {
	fp, err := migrate.Fingerprint(nil)
	if err != nil {
		return "", err
	}
	name := "sqal_template_" + fp[:16]
	if ok, err := s.databaseExists(ctx, name); err != nil || ok {
		return name, err
	}
	conn, err := s.admin.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("acquire admin connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return "", fmt.Errorf("lock template build: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", templateLockKey) //nolint:errcheck
	if ok, err := s.databaseExists(ctx, name); err != nil || ok {
		return name, err // built by another process while we waited
	}

	// Build under another name and rename when complete: a process killed mid-build
	// leaves a half-migrated database nobody clones.
	build := "sqal_build_" + fp[:16]
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{build}.Sanitize()+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop stale template build: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{build}.Sanitize()+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("create template database: %w", err)
	}
	if err := migrate.Up(ctx, withDatabase(s.adminURL, build)); err != nil {
		return "", fmt.Errorf("migrate template database: %w", err)
	}
	for _, q := range []string{
		"ALTER DATABASE " + pgx.Identifier{build}.Sanitize() + " RENAME TO " + pgx.Identifier{name}.Sanitize(),
		// No connections: CREATE DATABASE ... TEMPLATE fails while anyone is connected
		// to the template.
		"ALTER DATABASE " + pgx.Identifier{name}.Sanitize() + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return "", fmt.Errorf("finish template database: %w", err)
		}
	}
	return name, nil
}

func (s *pgServer) databaseExists(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := s.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up database %s: %w", name, err)
	}
	return ok, nil
}

// abandonedAfter is the age after which a test database is considered left behind
// by a killed process (test binaries time out long before).
const abandonedAfter = 3 * time.Hour

// dropAbandoned drops, best effort, the test databases older than abandonedAfter.
func (s *pgServer) dropAbandoned(ctx context.Context) {
	rows, err := s.admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'test\_%\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		parts := strings.Split(name, "_")
		if len(parts) != 3 {
			continue
		}
		created, err := strconv.ParseInt(parts[1], 16, 64)
		if err != nil || time.Since(time.Unix(created, 0)) < abandonedAfter {
			continue
		}
		_, _ = s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
}

// newDatabase creates a database from template and drops it when t ends.
func (s *pgServer) newDatabase(t testing.TB, template string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The creation time in the name lets a later process drop databases that a
	// killed test process (no cleanup ran) left behind.
	name := fmt.Sprintf("test_%x_%s", time.Now().Unix(), randomHex(6))
	q := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	if _, err := s.admin.Exec(ctx, q); err != nil {
		t.Fatalf("testenv: create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE: a connection the test leaked must not keep its database alive.
		if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop test database %s: %v", name, err)
		}
	})
	return withDatabase(s.adminURL, name)
}

// withDatabase returns rawURL pointing at database name.
func withDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		// A keyword/value connection string: a later dbname wins.
		return rawURL + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// claimRedisDB claims a free database number (1-15) on a shared Redis for t: a lock
// key in database 0 marks it taken, it is flushed before use and released (and
// flushed) when t ends. The lock expires by itself if the process dies.
func claimRedisDB(t testing.TB, shared string) (string, error) {
	opt, err := redis.ParseURL(shared)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", EnvRedisURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opt.DB = 0
	c0 := redis.NewClient(opt)
	defer c0.Close()
	owner := strconv.Itoa(os.Getpid()) + "-" + randomHex(4)
	for {
		for db := 1; db < 16; db++ {
			key := "sqal:testenv:redis-db:" + strconv.Itoa(db)
			ok, err := c0.SetNX(ctx, key, owner, 10*time.Minute).Result()
			if err != nil {
				return "", fmt.Errorf("claim redis database: %w", err)
			}
			if !ok {
				continue
			}
			o := *opt
			o.DB = db
			c := redis.NewClient(&o)
			err = c.FlushDB(ctx).Err()
			c.Close()
			if err != nil {
				return "", fmt.Errorf("flush redis database %d: %w", db, err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c := redis.NewClient(&o)
				c.FlushDB(ctx)
				c.Close()
				o0 := o
				o0.DB = 0
				c0 := redis.NewClient(&o0)
				// Release only our own claim.
				c0.Eval(ctx, `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`, []string{key}, owner)
				c0.Close()
			})
			u, _ := url.Parse(shared)
			u.Path = "/" + strconv.Itoa(db)
			return u.String(), nil
		}
		select {
		case <-ctx.Done():
			return "", errors.New("no free redis database number on " + EnvRedisURL + " (15 tests at once hold them all)")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
