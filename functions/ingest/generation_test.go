package ingest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/sqalread"
	"github.com/sqalfn/sqal/shared/testenv"
)

func TestGenerationBumperCoalesces(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb := testenv.Redis(t)
	b := newGenerationBumper(ctx, rdb, 300*time.Millisecond, slog.New(slog.DiscardHandler))
	b.touch()
	waitGen := func(want string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			g, err := sqalread.Generation(ctx, rdb)
			if err != nil {
				t.Fatal(err)
			}
			if g == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("generation %s, want %s", g, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitGen("1")
	// 100 touches during the interval after that bump produce one more bump, not 100.
	for range 100 {
		b.touch()
	}
	waitGen("2")
	time.Sleep(700 * time.Millisecond)
	if g, _ := sqalread.Generation(ctx, rdb); g != "2" {
		t.Fatalf("generation %s after idle, want 2", g)
	}
}
