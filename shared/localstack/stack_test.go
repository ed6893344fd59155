package localstack

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestStartStack(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, StackOptions{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	conn, err := pgx.Connect(ctx, s.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	var devices int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM sqal_devices").Scan(&devices)
	conn.Close(ctx)
	if err != nil || devices == 0 {
		t.Errorf("migrated database: %d devices, %v", devices, err)
	}
	opt, err := redis.ParseURL(s.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Error(err)
	}
	pg, r := s.pg, s.redis
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if Alive(pg.PID, "postgres") || Alive(r.PID, "redis-server") {
		t.Error("servers still running after Stop")
	}
}
