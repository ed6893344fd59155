// Command testenv starts, shows and stops the PostgreSQL server shared by test
// processes (see package testenv). scripts/testenv.sh wraps it.
//
//	testenv up     start the server when it is not running
//	testenv env    print TEST_DATABASE_URL='...' (shell syntax) for the running server (starts it)
//	testenv down   stop the server and remove its files
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sqalfn/sqal/shared/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: testenv up|env|down")
	}
	switch args[0] {
	case "up":
		st, err := testenv.Up(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "test postgres running (pid %d) at %s\n", st.PostgresPID, st.PostgresURL)
		return nil
	case "env":
		st, err := testenv.Up(ctx)
		if err != nil {
			return err
		}
		// Shell syntax for eval. No TEST_REDIS_URL: without it every test gets a
		// redis-server of its own, which isolates pub/sub too.
		fmt.Printf("%s='%s'\n", testenv.EnvDatabaseURL, strings.ReplaceAll(st.PostgresURL, "'", `'\''`))
		return nil
	case "down":
		return testenv.Down(ctx)
	default:
		return fmt.Errorf("unknown command %q (want up, env or down)", args[0])
	}
}
