package ratelimit

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sqalfn/sqal/shared/testenv"
)

func TestSharedLimitAcrossInstances(t *testing.T) {
	url := testenv.RedisURL(t)
	newClient := func() *redis.Client {
		opts, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opts)
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Two instances, two connection pools, one Redis: the budget is shared.
	a, b := New(newClient(), Options{OpTimeout: time.Second}), New(newClient(), Options{OpTimeout: time.Second})
	limit := PerMinute(100)
	var allowed, local atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		for _, l := range []*Limiter{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 5; j++ {
					res := l.Allow(t.Context(), "device:ESP32_1", limit)
					if res.Allowed {
						allowed.Add(1)
					}
					if res.Local {
						local.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	// 400 attempts in well under a second: the burst (100) plus at most a couple of
	// refilled tokens (100/min) may pass.
	if n := allowed.Load(); n < 100 || n > 103 {
		t.Errorf("allowed %d of 400, want ~100", n)
	}
	if local.Load() != 0 {
		t.Errorf("%d decisions fell back to local with Redis up", local.Load())
	}
	// redis_rate computes Remaining in floating point: 98 or 99 after one event.
	if res := a.Allow(t.Context(), "device:ESP32_2", limit); !res.Allowed || res.Remaining < 98 {
		t.Errorf("independent key: %+v", res)
	}
}

func TestFallbackWhenRedisDown(t *testing.T) {
	l0, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l0.Addr().String()
	l0.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	l := New(rdb, Options{})
	allowed := 0
	start := time.Now()
	for i := 0; i < 15; i++ {
		res := l.Allow(t.Context(), "k", PerMinute(10))
		if !res.Local {
			t.Fatalf("decision %d not local with Redis down", i)
		}
		if res.Allowed {
			allowed++
		}
	}
	if allowed != 10 {
		t.Errorf("local fallback allowed %d of 15, want 10", allowed)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("15 decisions took %s with Redis down", d)
	}
}

func TestLocalGCRA(t *testing.T) {
	g := newLocalGCRA()
	now := time.Unix(1000, 0)
	limit := PerMinute(10)
	tests := []struct {
		name        string
		key         string
		at          time.Duration
		n           int // attempts
		wantAllowed int
	}{
		{"burst allowed then denied", "a", 0, 15, 10},
		{"clients independent", "b", 0, 10, 10},
		{"one token after 6s", "a", 6 * time.Second, 2, 1},
		{"full bucket after a period", "a", 2 * time.Minute, 12, 10},
	}
	for _, tt := range tests {
		got := 0
		for i := 0; i < tt.n; i++ {
			if g.allow(tt.key, limit, 1, now.Add(tt.at)).Allowed {
				got++
			}
		}
		if got != tt.wantAllowed {
			t.Errorf("%s: allowed %d, want %d", tt.name, got, tt.wantAllowed)
		}
	}
	res := g.allow("c", limit, 1, now)
	if res.Remaining != 9 {
		t.Errorf("remaining after one event: %d", res.Remaining)
	}
	denied := g.allow("a", limit, 1, now.Add(2*time.Minute))
	if denied.Allowed || denied.RetryAfter <= 0 || denied.RetryAfter > 6*time.Second {
		t.Errorf("denied result %+v", denied)
	}
}

func TestZeroLimitDenies(t *testing.T) {
	if New(nil, Options{}).Allow(t.Context(), "k", Limit{}).Allowed {
		t.Error("zero limit allowed an event")
	}
}

func TestMiddleware(t *testing.T) {
	l := New(testenv.Redis(t), Options{})
	h := l.Middleware(PerMinute(2), ByClientAddr, "/health")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	do := func(path, xff string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = "10.0.0.9:5555"
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	r1, r2, r3 := do("/api/x", "192.0.2.1, 10.0.0.1"), do("/api/x", "192.0.2.1"), do("/api/x", "192.0.2.1")
	if r1.Code != 204 || r2.Code != 204 || r3.Code != 429 {
		t.Fatalf("codes %d %d %d", r1.Code, r2.Code, r3.Code)
	}
	if r1.Header().Get("RateLimit-Limit") != "2" || r1.Header().Get("RateLimit-Remaining") != "1" || r2.Header().Get("RateLimit-Remaining") != "0" {
		t.Errorf("headers %v / %v", r1.Header(), r2.Header())
	}
	if ra, err := strconv.Atoi(r3.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 30 {
		t.Errorf("Retry-After %q", r3.Header().Get("Retry-After"))
	}
	var body map[string]any
	if err := json.Unmarshal(r3.Body.Bytes(), &body); err != nil || body["detail"] != "Rate limit exceeded" || r3.Header().Get("Content-Type") != "application/json" {
		t.Errorf("429 body %s (%v)", r3.Body, err)
	}
	if rec := do("/api/x", "198.51.100.7"); rec.Code != 204 {
		t.Errorf("other client limited: %d", rec.Code)
	}
	if rec := do("/health", "192.0.2.1"); rec.Code != 204 {
		t.Errorf("exempt path limited: %d", rec.Code)
	}
}
