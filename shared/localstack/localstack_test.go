package localstack

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestStartPostgres(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	// Dir empty: a temporary folder the postgres account can reach even when we
	// are root (t.TempDir's parents are private to us).
	pg, err := StartPostgres(ctx, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("postgres up in %s on %s", time.Since(start), pg.URL())
	conn, err := pgx.Connect(ctx, pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	var fsync, compression string
	if err := conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('default_toast_compression')").Scan(&fsync, &compression); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if fsync != "off" {
		t.Errorf("fsync = %q, want off", fsync)
	}
	t.Logf("default_toast_compression = %s", compression)
	pid, dir := pg.PID, pg.Dir
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary folder %s not removed: %v", dir, err)
	}
	if Alive(pid, "postgres") {
		t.Errorf("postgres pid %d still running after Stop", pid)
	}
}

func TestStartRedis(t *testing.T) {
	tests := []struct {
		name string
		opts RedisOptions
		proc bool
	}{
		{name: "redis-server", opts: RedisOptions{}, proc: true},
		{name: "in-process fallback", opts: RedisOptions{Binary: ""}, proc: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var r *Redis
			var err error
			if tc.proc {
				r, err = StartRedis(ctx, tc.opts)
			} else {
				r, err = startMiniredis(0)
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.InProcess() == tc.proc {
				t.Fatalf("InProcess() = %v", r.InProcess())
			}
			opt, err := redis.ParseURL(r.URL())
			if err != nil {
				t.Fatal(err)
			}
			c := redis.NewClient(opt)
			if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if v := c.Get(ctx, "k").Val(); v != "v" {
				t.Errorf("get = %q", v)
			}
			c.Close()
			pid := r.PID
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
			if tc.proc && Alive(pid, "redis-server") {
				t.Errorf("redis-server pid %d still running", pid)
			}
		})
	}
}
