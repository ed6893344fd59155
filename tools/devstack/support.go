package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqalfn/sqal/shared/localstack"
)

// ensureDatabase creates the product's database in a fresh local cluster.
func ensureDatabase(ctx context.Context, pg *localstack.Postgres, name string) error {
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		return fmt.Errorf("connect to local PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: kept from an earlier run
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// runSimulator streams simulated stations into the stack until ctx ends. It runs the
// simulator as a child process (go run) so its output and flags stay its own.
func runSimulator(ctx context.Context, root, port, extra string, log *slog.Logger) {
	args := []string{"run", "./tools/simulator", "-url", "ws://127.0.0.1:" + port + "/ws/sensors/"}
	args = append(args, strings.Fields(extra)...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	log.Info("starting station simulator", "args", strings.Join(args[2:], " "))
	if err := cmd.Run(); err != nil && ctx.Err() == nil {
		log.Error("simulator stopped", "error", err)
	}
}
