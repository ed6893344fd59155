package sqalapi

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestZZProfile(t *testing.T) {
	url := os.Getenv("PROFILE_DB")
	if url == "" {
		t.Skip()
	}
	ctx := context.Background()
	pool, _ := pgxpool.New(ctx, url)
	a := &API{db: pool, now: time.Now}
	for i := 0; i < 5; i++ {
		n := time.Now().UTC()
		t0 := time.Now()
		q, args := countersSQL(n, time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC))
		rows, err := pool.Query(ctx, "EXPLAIN ANALYZE "+q, args...)
		for rows.Next() {
			var l string
			_ = rows.Scan(&l)
			if i == 4 {
				t.Log(l)
			}
		}
		t1 := time.Now()
		_, _, err2 := a.loadWindow(ctx, n)
		t2 := time.Now()
		t.Logf("counters %v window %v %v %v", t1.Sub(t0), t2.Sub(t1), err, err2)
	}
}
