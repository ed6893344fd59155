package cache

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/testenv"
)

type agg struct {
	Count int     `json:"count"`
	Avg   float64 `json:"avg"`
}

// closedAddr returns an address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func counter(v agg) (*atomic.Int64, func(context.Context) (agg, error)) {
	var n atomic.Int64
	return &n, func(context.Context) (agg, error) { n.Add(1); return v, nil }
}

func TestGetHitMissTTL(t *testing.T) {
	rdb := testenv.Redis(t)
	c := New(rdb, Options{Name: "dash"})
	ctx := t.Context()
	loads, load := counter(agg{Count: 3, Avg: 0.8})
	for i := 0; i < 3; i++ {
		v, err := Get(ctx, c, "overview", 10*time.Second, load)
		if err != nil || v.Count != 3 {
			t.Fatalf("get %d: %v %v", i, v, err)
		}
	}
	if loads.Load() != 1 {
		t.Errorf("loads = %d, want 1", loads.Load())
	}
	ttl, err := rdb.TTL(ctx, "dash:org:none:overview").Result()
	if err != nil || ttl <= 0 || ttl > 10*time.Second {
		t.Errorf("ttl %v %v", ttl, err)
	}
	// Loader errors are returned and not cached.
	boom := errors.New("db down")
	if _, err := Get(ctx, c, "failing", time.Minute, func(context.Context) (agg, error) { return agg{}, boom }); !errors.Is(err, boom) {
		t.Errorf("loader error: %v", err)
	}
	if n, _ := rdb.Exists(ctx, "dash:failing").Result(); n != 0 {
		t.Error("error result was cached")
	}
}

func TestStampedeProtection(t *testing.T) {
	rdb := testenv.Redis(t)
	c := New(rdb, Options{Name: "st"})
	var loads atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) (agg, error) {
		loads.Add(1)
		<-release
		return agg{Count: 1}, nil
	}
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := Get(t.Context(), c, "hot", time.Minute, load)
			if err == nil && v.Count != 1 {
				err = errors.New("wrong value")
			}
			errs <- err
		}()
	}
	time.Sleep(200 * time.Millisecond) // let every caller reach the shared load
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if loads.Load() != 1 {
		t.Errorf("%d concurrent gets ran %d loads, want 1", n, loads.Load())
	}
}

func TestInvalidation(t *testing.T) {
	rdb := testenv.Redis(t)
	c := New(rdb, Options{Name: "inv"})
	ctx := t.Context()
	tests := []struct {
		name       string
		get        func(load func(context.Context) (agg, error)) error
		invalidate func() error
	}{
		{"by key",
			func(load func(context.Context) (agg, error)) error {
				_, err := Get(ctx, c, "k", time.Minute, load)
				return err
			},
			func() error { return c.Invalidate(ctx, "k") }},
		{"by tag generation",
			func(load func(context.Context) (agg, error)) error {
				_, err := GetTagged(ctx, c, "hourly:D1", []string{"samples", "devices"}, time.Minute, load)
				return err
			},
			func() error { return c.BumpTags(ctx, "samples") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loads, load := counter(agg{Count: 1})
			for _, step := range []struct {
				invalidate bool
				want       int64
			}{{false, 1}, {false, 1}, {true, 2}, {false, 2}} {
				if step.invalidate {
					if err := tt.invalidate(); err != nil {
						t.Fatal(err)
					}
				}
				if err := tt.get(load); err != nil {
					t.Fatal(err)
				}
				if loads.Load() != step.want {
					t.Fatalf("loads = %d, want %d", loads.Load(), step.want)
				}
			}
		})
	}
}

func TestFailOpenWhenRedisDown(t *testing.T) {
	rdb, err := NewClient(config.Redis{URL: "redis://" + closedAddr(t), DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond, PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	var logs bytes.Buffer
	c := New(rdb, Options{Name: "down", Logger: slog.New(slog.NewJSONHandler(&logs, nil)), ErrorLogInterval: time.Hour})
	loads, load := counter(agg{Count: 9})
	start := time.Now()
	for i := 0; i < 20; i++ {
		v, err := Get(t.Context(), c, "k", time.Minute, load)
		if err != nil || v.Count != 9 {
			t.Fatalf("get %d with redis down: %v %v", i, v, err)
		}
		if _, err := GetTagged(t.Context(), c, "t", []string{"samples"}, time.Minute, load); err != nil {
			t.Fatalf("tagged get with redis down: %v", err)
		}
	}
	if loads.Load() != 40 {
		t.Errorf("loads = %d, want every call served by the loader", loads.Load())
	}
	if err := c.Invalidate(t.Context(), "k"); err == nil {
		t.Error("invalidate against a dead redis reported success")
	}
	if n := strings.Count(logs.String(), "cache failing open"); n != 1 {
		t.Errorf("logged %d times, want once per interval:\n%s", n, logs.String())
	}
	// The breaker keeps a dead Redis from costing a round trip on every call.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("40 fail-open gets took %s", d)
	}
}

func TestPassThroughWithoutRedis(t *testing.T) {
	c := New(nil, Options{Name: "none"})
	loads, load := counter(agg{Count: 2})
	for i := 0; i < 2; i++ {
		if v, err := Get(t.Context(), c, "k", time.Minute, load); err != nil || v.Count != 2 {
			t.Fatal(v, err)
		}
	}
	if loads.Load() != 2 {
		t.Errorf("loads = %d", loads.Load())
	}
}

func TestNewClient(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Redis
		cluster bool
		wantErr bool
	}{
		{"single", config.Redis{URL: "redis://:pw@localhost:6379/2"}, false, false},
		{"cluster", config.Redis{Addrs: []string{"a:1", "b:2"}}, true, false},
		{"none", config.Redis{}, false, true},
		{"bad url", config.Redis{URL: "http://x"}, false, true},
	}
	for _, tt := range tests {
		c, err := NewClient(tt.cfg)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v", tt.name, err)
			continue
		}
		if err != nil {
			continue
		}
		_, isCluster := c.(*redis.ClusterClient)
		if isCluster != tt.cluster {
			t.Errorf("%s: cluster = %v", tt.name, isCluster)
		}
		c.Close()
	}
	if err := Ping(t.Context(), testenv.Redis(t), time.Second); err != nil {
		t.Errorf("ping real redis: %v", err)
	}
}
