// Package database opens the PostgreSQL pool a function uses (sized from config, pinged
// with a timeout at start), runs transactions, and exports pool statistics as
// OpenTelemetry metrics.
package database

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sqalfn/sqal/shared/config"
)

// ErrNotConfigured is returned by Open when DATABASE_URL is empty.
var ErrNotConfigured = errors.New("DATABASE_URL is not set")

// ErrInvalidConfig wraps configuration mistakes (bad URL, unknown exec mode): retrying
// cannot fix them.
var ErrInvalidConfig = errors.New("invalid database configuration")

var execModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement,
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec,
	"exec":            pgx.QueryExecModeExec,
	"simple_protocol": pgx.QueryExecModeSimpleProtocol,
}

// PoolConfig turns cfg into a pgxpool config (no connection is made).
func PoolConfig(cfg config.Database) (*pgxpool.Config, error) {
	if cfg.URL == "" {
		return nil, ErrNotConfigured
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx's parse errors can quote the connection string: never pass them on.
		return nil, fmt.Errorf("parse DATABASE_URL %s: %w: invalid connection string", config.Redact(cfg.URL), ErrInvalidConfig)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pc.MinConns = cfg.MinConns
	if cfg.MaxConnIdleTime > 0 {
		pc.MaxConnIdleTime = cfg.MaxConnIdleTime
	}
	if cfg.MaxConnLifetime > 0 {
		pc.MaxConnLifetime = cfg.MaxConnLifetime
	}
	if cfg.HealthCheckPeriod > 0 {
		pc.HealthCheckPeriod = cfg.HealthCheckPeriod
	}
	if cfg.ConnectTimeout > 0 {
		pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	}
	if cfg.ExecMode != "" {
		mode, ok := execModes[strings.ToLower(cfg.ExecMode)]
		if !ok {
			return nil, fmt.Errorf("DB_EXEC_MODE %q: %w: want one of cache_statement, cache_describe, describe_exec, exec, simple_protocol", cfg.ExecMode, ErrInvalidConfig)
		}
		pc.ConnConfig.DefaultQueryExecMode = mode
	}
	return pc, nil
}

// Open creates the pool and pings the database within cfg.ConnectTimeout, so a
// function with a wrong URL or an unreachable database fails at start, clearly.
func Open(ctx context.Context, cfg config.Database) (*pgxpool.Pool, error) {
	pc, err := PoolConfig(cfg)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("create pool for %s: %w", config.Redact(cfg.URL), err)
	}
	if err := Ping(ctx, pool, cfg.ConnectTimeout); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", config.Redact(cfg.URL), err)
	}
	return pool, nil
}

// Ping checks the pool can run a query within timeout (0 = ctx's deadline).
func Ping(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return pool.Ping(ctx)
}

// Check returns a health check that pings pool.
func Check(pool *pgxpool.Pool) func(ctx context.Context) error {
	return func(ctx context.Context) error { return pool.Ping(ctx) }
}

// Beginner is what WithTx needs: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx (nested
// transactions become savepoints).
type Beginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// WithTx runs fn in a transaction: committed when fn returns nil, rolled back when it
// returns an error or panics (the panic is re-raised after the rollback).
func WithTx(ctx context.Context, db Beginner, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return WithTxOptions(ctx, db, pgx.TxOptions{}, fn)
}

// WithTxOptions is WithTx with explicit isolation and access mode.
func WithTxOptions(ctx context.Context, db Beginner, opts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			// The caller's context may be the reason for the panic; roll back regardless.
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// RegisterMetrics exports pool statistics as observable instruments, read at each
// scrape (names follow bn's db_* series): db_pool_size, db_connections_active,
// db_pool_available, db_pool_max, db_pool_acquire_total, db_pool_acquire_wait_total,
// db_pool_acquire_duration_seconds_total, db_pool_canceled_acquire_total. The pool
// attribute tells pools apart when a process has several.
func RegisterMetrics(meter metric.Meter, pool *pgxpool.Pool, name string) (metric.Registration, error) {
	attrs := metric.WithAttributes(attribute.String("pool", name))
	size, err1 := meter.Int64ObservableGauge("db_pool_size", metric.WithDescription("Open connections (idle + in use + being built)."))
	active, err2 := meter.Int64ObservableGauge("db_connections_active", metric.WithDescription("Connections in use."))
	idle, err3 := meter.Int64ObservableGauge("db_pool_available", metric.WithDescription("Idle connections."))
	maxc, err4 := meter.Int64ObservableGauge("db_pool_max", metric.WithDescription("Configured maximum connections."))
	acq, err5 := meter.Int64ObservableCounter("db_pool_acquire", metric.WithDescription("Connections acquired from the pool."))
	empty, err6 := meter.Int64ObservableCounter("db_pool_acquire_wait", metric.WithDescription("Acquires that had to wait for a connection (pool exhausted)."))
	dur, err7 := meter.Float64ObservableCounter("db_pool_acquire_duration", metric.WithUnit("s"), metric.WithDescription("Total time spent acquiring connections."))
	canc, err8 := meter.Int64ObservableCounter("db_pool_canceled_acquire", metric.WithDescription("Acquires canceled by their context."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7, err8); err != nil {
		return nil, fmt.Errorf("create pool instruments: %w", err)
	}
	return meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := pool.Stat()
		o.ObserveInt64(size, int64(s.TotalConns()), attrs)
		o.ObserveInt64(active, int64(s.AcquiredConns()), attrs)
		o.ObserveInt64(idle, int64(s.IdleConns()), attrs)
		o.ObserveInt64(maxc, int64(s.MaxConns()), attrs)
		o.ObserveInt64(acq, s.AcquireCount(), attrs)
		o.ObserveInt64(empty, s.EmptyAcquireCount(), attrs)
		o.ObserveFloat64(dur, s.AcquireDuration().Seconds(), attrs)
		o.ObserveInt64(canc, s.CanceledAcquireCount(), attrs)
		return nil
	}, size, active, idle, maxc, acq, empty, dur, canc)
}
