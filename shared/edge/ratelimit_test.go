package edge

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sqalfn/sqal/shared/ratelimit"
	"github.com/sqalfn/sqal/shared/testenv"
)

var ok200 = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

// TestRateLimitAcrossInstances: two entry-point instances sharing one Redis enforce one
// budget under concurrency.
func TestRateLimitAcrossInstances(t *testing.T) {
	rdb := testenv.Redis(t)
	cfg := RateLimitConfig{Enabled: true, AddressPerMinute: 40, ClientPerMinute: 1000}
	a := RateLimit(cfg, ratelimit.New(rdb, ratelimit.Options{Prefix: "t:"}), ok200)
	b := RateLimit(cfg, ratelimit.New(rdb, ratelimit.Options{Prefix: "t:"}), ok200)
	var allowed, limited atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(h http.Handler) {
			defer wg.Done()
			req := httptest.NewRequest("GET", "/api/sqal/devices", nil)
			req.RemoteAddr = "198.51.100.1:1234"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case 200:
				allowed.Add(1)
			case 429:
				if rec.Header().Get("Retry-After") == "" || rec.Header().Get("RateLimit-Limit") != "40" {
					t.Errorf("429 headers: %v", rec.Header())
				}
				limited.Add(1)
			}
		}(map[bool]http.Handler{true: a, false: b}[i%2 == 0])
	}
	wg.Wait()
	if allowed.Load() != 40 || limited.Load() != 60 {
		t.Fatalf("allowed %d, limited %d; want 40 and 60 across both instances", allowed.Load(), limited.Load())
	}
}

func TestRateLimitKeys(t *testing.T) {
	cfg := RateLimitConfig{Enabled: true, AddressPerMinute: 1000, ClientPerMinute: 2}
	h := RateLimit(cfg, ratelimit.New(nil, ratelimit.Options{}), ok200) // in-memory: Redis down
	do := func(path, token, addr string) int {
		req := httptest.NewRequest("GET", path, nil)
		req.RemoteAddr = addr + ":1"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	// Per client: the third request of one token is refused, another token is not.
	if do("/api/x", "t1", "192.0.2.1") != 200 || do("/api/x", "t1", "192.0.2.2") != 200 || do("/api/x", "t1", "192.0.2.3") != 429 {
		t.Fatal("per-client budget not applied across addresses")
	}
	if do("/api/x", "t2", "192.0.2.1") != 200 {
		t.Fatal("another client shares the first one's budget")
	}
	// Stations and probes are exempt.
	for i := 0; i < 5; i++ {
		if do("/ws/sensors/", "t1", "192.0.2.1") != 200 || do("/api/ingest/samples", "t1", "192.0.2.1") != 200 || do("/readyz", "t1", "192.0.2.1") != 200 {
			t.Fatal("exempt path limited")
		}
	}
	if RateLimit(RateLimitConfig{}, ratelimit.New(nil, ratelimit.Options{}), ok200) == nil {
		t.Fatal("disabled limiter must return next")
	}
}

func TestClientAddr(t *testing.T) {
	tests := []struct {
		xff  []string
		hops int
		want string
	}{
		{nil, 0, "10.0.0.9"},
		{[]string{"6.6.6.6"}, 0, "10.0.0.9"}, // not trusted: the peer
		{[]string{"6.6.6.6, 203.0.113.5, 10.1.1.1"}, 2, "203.0.113.5"},
		{[]string{"6.6.6.6, 203.0.113.5", "10.1.1.1"}, 2, "203.0.113.5"},
		{[]string{"10.1.1.1"}, 2, "10.0.0.9"}, // fewer hops than expected: the peer
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.9:5000"
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientAddr(r, tt.hops); got != tt.want {
			t.Errorf("%v hops %d: %s, want %s", tt.xff, tt.hops, got, tt.want)
		}
	}
}
