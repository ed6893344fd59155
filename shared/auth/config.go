// Package auth validates Keycloak access tokens and enforces the product's roles ->
// permissions table on every HTTP route.
//
// The runtime wraps every HTTP function with NewMiddleware. Two modes (AUTH_MODE):
//
//   - open (the local stack's default): anonymous callers get full access, as the
//     legacy clients expect (they never send a token); a valid Bearer token still
//     identifies its caller, an invalid one is ignored.
//   - enforce (the cluster default, k8s/base/config.yaml): every route needs a valid
//     token carrying the route's permission: 401 without or with a bad token, 403
//     without the permission. Public routes (health, docs) and the device routes of
//     ingest (which authenticates stations with their own device keys) pass through.
//
// Tokens are verified against the realm's keys (OIDC discovery + JWKS, cached,
// refreshed on an unknown kid at most once per AUTH_JWKS_MIN_REFRESH_INTERVAL), with
// an RS256/ES256 allow-list, issuer, audience (aud or azp), expiry and not-before
// checks within AUTH_LEEWAY.
package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Modes of AUTH_MODE.
const (
	ModeOpen    = "open"
	ModeEnforce = "enforce"
)

// Config is read by the runtime with go-envconfig.
type Config struct {
	Mode string `env:"AUTH_MODE, default=open"` // open | enforce

	// KeycloakURL and Realm locate the realm the functions fetch keys from (OIDC
	// discovery at <KEYCLOAK_URL>/realms/<KEYCLOAK_REALM>/.well-known/openid-configuration).
	KeycloakURL string `env:"KEYCLOAK_URL, default=http://localhost:8080"`
	Realm       string `env:"KEYCLOAK_REALM, default=sqal_realm"`
	// IssuerURL is the iss tokens must carry when it differs from the address the
	// functions reach Keycloak on (a cluster: browsers get tokens through a public or
	// port-forwarded host name, pods talk to the Service).
	IssuerURL string `env:"KEYCLOAK_ISSUER"`
	// JWKSURL skips discovery (a Keycloak with a fixed public hostname advertises a
	// jwks_uri the pods cannot reach).
	JWKSURL string `env:"AUTH_JWKS_URL"`
	// ClientID is the dashboard's client; its client roles are read from
	// resource_access.<client>.roles and it is an accepted audience.
	ClientID string `env:"KEYCLOAK_CLIENT_ID, default=sqal-frontend"`
	// Audiences accepted in aud (or azp); empty means ClientID.
	Audiences []string `env:"AUTH_AUDIENCES"`
	// Leeway absorbs clock skew on exp, nbf and iat.
	Leeway time.Duration `env:"AUTH_LEEWAY, default=30s"`
	// JWKSMinRefresh bounds how often an unknown kid may trigger a JWKS fetch (a
	// flood of forged kids must not become a flood of requests to Keycloak).
	JWKSMinRefresh time.Duration `env:"AUTH_JWKS_MIN_REFRESH_INTERVAL, default=30s"`
	// JWKSCacheTTL is how long fetched keys are trusted before a background refetch.
	JWKSCacheTTL time.Duration `env:"AUTH_JWKS_CACHE_TTL, default=1h"`

	// DevIssuer enables the development token issuer (/api/dev/token on the local
	// stack). It is refused in enforce mode unless DevIssuerAllowEnforce is also set.
	DevIssuer             bool   `env:"AUTH_DEV_ISSUER, default=false"`
	DevIssuerAllowEnforce bool   `env:"AUTH_DEV_ISSUER_ALLOW_ENFORCE, default=false"`
	DevIssuerURL          string `env:"AUTH_DEV_ISSUER_URL, default=http://localhost:8000/api/dev"`
}

// Issuer is the issuer Keycloak tokens must carry.
func (c Config) Issuer() string {
	if c.IssuerURL != "" {
		return strings.TrimRight(c.IssuerURL, "/")
	}
	return c.RealmURL()
}

// RealmURL is where the functions reach the realm (discovery and keys).
func (c Config) RealmURL() string {
	return strings.TrimRight(c.KeycloakURL, "/") + "/realms/" + c.Realm
}

// AcceptedAudiences is Audiences or, when empty, the client id.
func (c Config) AcceptedAudiences() []string {
	if len(c.Audiences) > 0 {
		return c.Audiences
	}
	if c.ClientID != "" {
		return []string{c.ClientID}
	}
	return nil
}

// Enforced reports enforce mode.
func (c Config) Enforced() bool { return c.Mode == ModeEnforce }

// ErrDevIssuerInEnforce is returned when the development issuer is enabled in enforce
// mode without the explicit second flag: a forgotten AUTH_DEV_ISSUER=true must not let
// anyone mint admin tokens for a real deployment.
var ErrDevIssuerInEnforce = errors.New("AUTH_DEV_ISSUER=true in AUTH_MODE=enforce needs AUTH_DEV_ISSUER_ALLOW_ENFORCE=true too")

// Validate checks the combination of settings.
func (c Config) Validate() error {
	switch c.Mode {
	case ModeOpen, ModeEnforce, "off", "optional": // the contract's names for open
	default:
		return fmt.Errorf("AUTH_MODE=%q: want %q or %q", c.Mode, ModeOpen, ModeEnforce)
	}
	if c.DevIssuer && c.Enforced() && !c.DevIssuerAllowEnforce {
		return ErrDevIssuerInEnforce
	}
	if c.Leeway < 0 || c.Leeway > 5*time.Minute {
		return fmt.Errorf("AUTH_LEEWAY=%s: want 0..5m", c.Leeway)
	}
	return nil
}
