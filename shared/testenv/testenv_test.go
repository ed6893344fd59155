package testenv_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/testenv"
)

// Every test database is a clone of the migrated template, private to its test.
func TestDBIsolatedAndMigrated(t *testing.T) {
	for i := 0; i < 4; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			start := time.Now()
			db := testenv.DB(t)
			t.Logf("database ready in %s", time.Since(start))
			var samples, compression int
			if err := db.QueryRow(ctx, "SELECT count(*) FROM sensor_samples").Scan(&samples); err != nil {
				t.Fatalf("migrated schema missing: %v", err)
			}
			if samples != 0 {
				t.Errorf("fresh database has %d samples", samples)
			}
			// Rows written here are invisible to the sibling tests.
			if _, err := db.Exec(ctx, `INSERT INTO processed_events (consumer, source, event_id) VALUES ('c', 's', 'same-id')`); err != nil {
				t.Fatalf("insert: %v", err)
			}
			if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'sensor_samples'::regclass AND attcompression = 'l'`).Scan(&compression); err != nil {
				t.Fatal(err)
			}
			if compression == 0 {
				t.Log("no lz4 columns: server built without lz4")
			}
		})
	}
}

func TestRedisIsolated(t *testing.T) {
	ctx := context.Background()
	a, b := testenv.Redis(t), testenv.Redis(t)
	sub := b.Subscribe(ctx, "ch")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("key of one test visible to another: %d, %v", n, err)
	}
	if n, err := a.Publish(ctx, "ch", "hello").Result(); err != nil || n != 0 {
		t.Errorf("publish reached %d subscribers of another test (%v)", n, err)
	}
}
