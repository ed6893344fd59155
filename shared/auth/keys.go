package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// errUnknownKey is a kid that the realm's key set does not hold, even after a refresh.
var errUnknownKey = errors.New("unknown signing key")

// maxKeyDocument bounds the discovery and JWKS documents read from the issuer.
const maxKeyDocument = 1 << 20

// keySource holds the verification keys of one issuer: fetched lazily (a function must
// start even when Keycloak is not up yet), cached for ttl, and refetched when a token
// names an unknown kid (key rotation), at most once per minRefresh.
type keySource struct {
	issuer     string // discovery at <issuer>/.well-known/openid-configuration
	jwksURL    string // when set, discovery is skipped
	client     *http.Client
	minRefresh time.Duration
	ttl        time.Duration
	now        func() time.Time

	mu          sync.Mutex
	set         jwk.Set
	fetched     time.Time
	lastAttempt time.Time
	lastErr     error
	static      bool
}

func newKeySource(issuer, jwksURL string, minRefresh, ttl time.Duration) *keySource {
	return &keySource{issuer: issuer, jwksURL: jwksURL, client: &http.Client{Timeout: 5 * time.Second},
		minRefresh: minRefresh, ttl: ttl, now: time.Now}
}

// staticKeys is a keySource that never fetches (the development issuer's own keys).
func staticKeys(set jwk.Set) *keySource {
	return &keySource{set: set, fetched: time.Now(), ttl: 1<<63 - 1, now: time.Now, static: true}
}

// key returns the key with id kid. Holding the lock during a fetch makes concurrent
// misses wait for one fetch instead of starting one each.
func (k *keySource) key(ctx context.Context, kid string) (jwk.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	var cached jwk.Key
	if k.set != nil {
		if key, ok := k.set.LookupKeyID(kid); ok {
			if k.static || now.Sub(k.fetched) < k.ttl {
				return key, nil
			}
			cached = key // stale: refresh if allowed, else keep using it
		}
	}
	if k.static || (!k.lastAttempt.IsZero() && now.Sub(k.lastAttempt) < k.minRefresh) {
		if cached != nil {
			return cached, nil
		}
		if k.lastErr != nil {
			return nil, fmt.Errorf("%w %q (last key fetch failed: %v)", errUnknownKey, kid, k.lastErr)
		}
		return nil, fmt.Errorf("%w %q", errUnknownKey, kid)
	}
	k.lastAttempt = now
	set, err := k.fetch(ctx)
	k.lastErr = err
	if err != nil {
		if cached != nil {
			return cached, nil // the issuer is down: keep verifying with what we know
		}
		return nil, fmt.Errorf("%w %q: %v", errUnknownKey, kid, err)
	}
	k.set, k.fetched = set, now
	if key, ok := set.LookupKeyID(kid); ok {
		return key, nil
	}
	return nil, fmt.Errorf("%w %q", errUnknownKey, kid)
}

func (k *keySource) fetch(ctx context.Context) (jwk.Set, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := k.jwksURL
	if u == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		b, err := k.get(ctx, k.issuer+"/.well-known/openid-configuration")
		if err != nil {
			return nil, fmt.Errorf("OIDC discovery: %w", err)
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.JWKSURI == "" {
			return nil, fmt.Errorf("OIDC discovery of %s: no jwks_uri", k.issuer)
		}
		u = doc.JWKSURI
	}
	b, err := k.get(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	set, err := jwk.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("parse JWKS from %s: %w", u, err)
	}
	return set, nil
}

func (k *keySource) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxKeyDocument))
}
