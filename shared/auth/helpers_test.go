package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// testRealm is a fake Keycloak realm: OIDC discovery and a JWKS over HTTP, with keys
// that can be rotated, and a signer for well-formed and forged tokens.
type testRealm struct {
	srv     *httptest.Server
	rsaKey  *rsa.PrivateKey
	ecKey   *ecdsa.PrivateKey
	mu      sync.Mutex
	jwks    jwk.Set
	fetches atomic.Int64
}

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

// testRSAKeys are generated once per test binary (2048-bit generation is slow).
func testRSAKeys(t testing.TB) [2]*rsa.PrivateKey {
	rsaOnce.Do(func() {
		for i := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[i] = k
		}
	})
	return rsaKeys
}

func newTestRealm(t testing.TB) *testRealm {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tr := &testRealm{rsaKey: testRSAKeys(t)[0], ecKey: ec, jwks: jwk.NewSet()}
	tr.addKey(t, "rsa-1", &tr.rsaKey.PublicKey)
	tr.addKey(t, "ec-1", &ec.PublicKey)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /realms/sqal_realm/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": tr.issuer(), "jwks_uri": tr.srv.URL + "/realms/sqal_realm/protocol/openid-connect/certs"})
	})
	mux.HandleFunc("GET /realms/sqal_realm/protocol/openid-connect/certs", func(w http.ResponseWriter, r *http.Request) {
		tr.fetches.Add(1)
		tr.mu.Lock()
		b, _ := json.Marshal(tr.jwks)
		tr.mu.Unlock()
		_, _ = w.Write(b)
	})
	tr.srv = httptest.NewServer(mux)
	t.Cleanup(tr.srv.Close)
	return tr
}

func (tr *testRealm) issuer() string { return tr.srv.URL + "/realms/sqal_realm" }

func (tr *testRealm) addKey(t testing.TB, kid string, pub any) {
	t.Helper()
	k, err := jwk.Import(pub)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if err := tr.jwks.AddKey(k); err != nil {
		t.Fatal(err)
	}
}

func (tr *testRealm) config() Config {
	return Config{Mode: ModeEnforce, KeycloakURL: tr.srv.URL, Realm: "sqal_realm", ClientID: "sqal-frontend",
		Leeway: 30 * time.Second, JWKSMinRefresh: time.Minute, JWKSCacheTTL: time.Hour}
}

// claimsFor returns valid claims for a user with realm roles.
func (tr *testRealm) claimsFor(user string, roles ...string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"iss": tr.issuer(), "sub": "sub-" + user, "aud": "account", "azp": "sqal-frontend",
		"exp": now + 300, "iat": now, "nbf": now, "sid": "sid-" + user, "preferred_username": user,
		"realm_access": map[string]any{"roles": roles},
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// sign builds a compact JWS by hand, so that tests can forge what a library refuses
// to produce.
func (tr *testRealm) sign(t testing.TB, alg, kid string, claims map[string]any) string {
	t.Helper()
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	input := b64(mustJSON(hdr)) + "." + b64(mustJSON(claims))
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch alg {
	case "RS256":
		s, err := rsa.SignPKCS1v15(rand.Reader, tr.rsaKey, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = s
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, tr.ecKey, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = append(pad32(r), pad32(s)...)
	case "HS256": // the classic confusion attack: HMAC keyed with the public key
		pubDER, _ := x509.MarshalPKIXPublicKey(&tr.rsaKey.PublicKey)
		pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
		m := hmac.New(sha256.New, pubPEM)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case "none":
	}
	return input + "." + b64(sig)
}

func pad32(n *big.Int) []byte {
	b := n.Bytes()
	out := make([]byte, 32)
	copy(out[32-len(b):], b)
	return out
}

// signWith signs RS256 with another private key (a forger's).
func signWith(t testing.TB, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	input := b64(mustJSON(map[string]any{"alg": "RS256", "kid": kid})) + "." + b64(mustJSON(claims))
	digest := sha256.Sum256([]byte(input))
	s, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(s)
}
