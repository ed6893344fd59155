// Command datagen fills a database with realistic SQAL data for demos and benchmarks:
// devices on the three sites, lots, N quality samples spread over the last D days, and
// the alerts the legacy rules would have raised for a share of them. Rows go in with
// COPY (binary), in batches, so a million samples take well under a minute or two.
//
//	go run ./tools/datagen -n 1000000 -days 30          # DATABASE_URL picks the database
//	go run ./tools/datagen -n 1000 -truncate            # start from empty tables
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/tools/datagen/datagen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := realMain(ctx, os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

func realMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("datagen", flag.ContinueOnError)
	var o datagen.Options
	fs.IntVar(&o.Samples, "n", 10000, "number of samples")
	fs.IntVar(&o.Days, "days", 30, "samples are spread over the last `days` days")
	fs.IntVar(&o.DevicesPerSite, "devices-per-site", 4, "devices on each of the sites LL, LS, MT")
	fs.IntVar(&o.Lots, "lots", 200, "number of lots (lots_gavage ids from -first-lot)")
	fs.IntVar(&o.FirstLot, "first-lot", 3400, "first lot id")
	fs.Int64Var(&o.Seed, "seed", 1, "random seed (same seed, same data)")
	fs.IntVar(&o.Batch, "batch", 50000, "rows per COPY statement")
	fs.BoolVar(&o.NoMatrices, "no-matrices", false, "leave the 8x8 matrix columns NULL (faster)")
	fs.BoolVar(&o.Truncate, "truncate", false, "empty samples, alerts, predictions and generated devices/lots first")
	dbURL := fs.String("db", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" {
		return errors.New("datagen: set DATABASE_URL or -db")
	}
	pool, err := pgxpool.New(ctx, *dbURL)
	if err != nil {
		return fmt.Errorf("datagen: connect: %w", err)
	}
	defer pool.Close()
	o.Now = time.Now().UTC()
	start := time.Now()
	st, err := datagen.Generate(ctx, pool, o, func(done int) {
		fmt.Fprintf(os.Stderr, "\r%d/%d samples (%.0f/s)", done, o.Samples, float64(done)/time.Since(start).Seconds())
	})
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Printf("datagen: %d samples, %d alerts, %d devices, %d lots in %s (%.0f samples/s)\n",
		st.Samples, st.Alerts, st.Devices, st.Lots, el.Round(time.Millisecond), float64(st.Samples)/el.Seconds())
	return nil
}
