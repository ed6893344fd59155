package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/migrate"
)

// StackOptions configures Start.
type StackOptions struct {
	// DatabaseURL uses an existing PostgreSQL (DATABASE_URL) instead of starting one.
	DatabaseURL string
	// RedisURL uses an existing Redis (REDIS_URL) instead of starting one.
	RedisURL string
	// Dir keeps the started PostgreSQL's data between runs (e.g. .local/run/pg);
	// empty starts from an empty cluster every time and removes it at Stop.
	Dir string
	// Database is the database created (when missing) on a started server and
	// returned in DatabaseURL (default "sqal").
	Database string
	// Migrate applies the migrations to the database.
	Migrate bool
	// Log receives the servers' output; nil discards it.
	Log io.Writer
}

// Stack is the PostgreSQL and Redis of a local run: started here or given.
type Stack struct {
	DatabaseURL string
	RedisURL    string
	pg          *Postgres
	redis       *Redis
}

// Start provides the servers of a local run (`make run`): the given URLs, or
// throwaway servers that die with this process. With Migrate, the schema is
// brought up to date.
func Start(ctx context.Context, opts StackOptions) (*Stack, error) {
	s := &Stack{DatabaseURL: opts.DatabaseURL, RedisURL: opts.RedisURL}
	if s.DatabaseURL == "" {
		pg, err := StartPostgres(ctx, PostgresOptions{Dir: opts.Dir, Log: opts.Log})
		if err != nil {
			return nil, err
		}
		s.pg = pg
		name := opts.Database
		if name == "" {
			name = "sqal"
		}
		if err := createDatabase(ctx, pg.URL(), name); err != nil {
			_ = s.Stop()
			return nil, err
		}
		s.DatabaseURL = pg.URL(name)
	}
	if s.RedisURL == "" {
		r, err := StartRedis(ctx, RedisOptions{Log: opts.Log})
		if err != nil {
			_ = s.Stop()
			return nil, err
		}
		s.redis = r
		s.RedisURL = r.URL()
	}
	if opts.Migrate {
		if err := migrate.Up(ctx, s.DatabaseURL); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Stop stops the servers Start started (given ones are left alone) and waits.
func (s *Stack) Stop() error {
	var errs []error
	if s.redis != nil {
		errs = append(errs, s.redis.Stop())
		s.redis = nil
	}
	if s.pg != nil {
		errs = append(errs, s.pg.Stop())
		s.pg = nil
	}
	return errors.Join(errs...)
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to local postgres: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}
