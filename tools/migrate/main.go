// Command migrate applies, rolls back and shows the schema migrations of the product
// on the database at DATABASE_URL. It is the Kubernetes migration Job's command and
// `make migrate` locally.
//
//	migrate up            apply every pending migration (the default)
//	migrate down          roll back the last applied migration
//	migrate down-to N     roll back every migration above version N (0: all)
//	migrate redo          roll back the last migration and apply it again
//	migrate status        list migrations with their state
//	migrate version       print the current version
//
// With APP_DB_PASSWORD set, `up` also lets the application role sqal_app (migration
// 00060) log in with that password: the functions connect as it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/sqalfn/sqal/shared/migrate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string, out io.Writer) error {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return errors.New("DATABASE_URL is not set")
	}
	cmd := "up"
	if len(args) > 0 {
		cmd = args[0]
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	m, err := migrate.New(url, migrate.WithLogger(logger))
	if err != nil {
		return err
	}
	defer m.Close()

	switch cmd {
	case "up":
		res, err := m.Up(ctx)
		printResults(out, res)
		if err != nil {
			return err
		}
		// The functions connect as the application role (row-level security applies to
		// it); a deployment that gives its password here lets it log in.
		if pw := os.Getenv("APP_DB_PASSWORD"); pw != "" {
			if err := migrate.EnableAppLogin(ctx, url, pw); err != nil {
				return err
			}
			fmt.Fprintf(out, "role %s can log in\n", migrate.AppRole)
		}
		return nil
	case "down":
		res, err := m.Down(ctx)
		if res != nil {
			printResults(out, []*goose.MigrationResult{res})
		}
		return err
	case "down-to":
		if len(args) != 2 {
			return errors.New("usage: migrate down-to VERSION")
		}
		v, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("bad version %q", args[1])
		}
		res, err := m.DownTo(ctx, v)
		printResults(out, res)
		return err
	case "redo":
		res, err := m.Redo(ctx)
		printResults(out, res)
		return err
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "VERSION\tSTATE\tAPPLIED AT\tFILE")
		for _, s := range st {
			at := ""
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%05d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, s.Source.Path)
		}
		return w.Flush()
	case "version":
		v, err := m.Version(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, v)
		return nil
	default:
		return fmt.Errorf("unknown command %q (want up, down, down-to N, redo, status or version)", cmd)
	}
}

func printResults(out io.Writer, res []*goose.MigrationResult) {
	if len(res) == 0 {
		fmt.Fprintln(out, "nothing to do")
	}
	for _, r := range res {
		status := "OK"
		if r.Error != nil {
			status = "FAILED: " + r.Error.Error()
		}
		fmt.Fprintf(out, "%-4s %05d %-40s %8s %s\n", r.Direction, r.Source.Version, r.Source.Path, r.Duration.Round(time.Millisecond), status)
	}
}
