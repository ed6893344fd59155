package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// maxTokenBytes bounds what is parsed at all (Keycloak tokens are 1–3 KB).
const maxTokenBytes = 16 << 10

// ErrInvalidToken wraps every validation failure (answered 401).
var ErrInvalidToken = errors.New("invalid token")

// allowedAlgs is the signature allow-list: Keycloak signs with RS256 by default, ES256
// when the realm has an EC key. "none", HMAC (the public-key-as-HMAC-secret trick) and
// everything else is refused before any key is looked up.
var allowedAlgs = map[string]jwa.SignatureAlgorithm{
	jwa.RS256().String(): jwa.RS256(),
	jwa.ES256().String(): jwa.ES256(),
}

// Validator verifies tokens of a set of trusted issuers.
type Validator struct {
	issuers   map[string]*keySource
	audiences []string
	clientID  string
	leeway    time.Duration
	now       func() time.Time

	// verified caches identities of tokens that passed, by SHA-256 of the token: a
	// dashboard sends the same token dozens of times a minute, and a signature check
	// costs far more than the request's routing. Entries live until the token expires,
	// at most verifiedTTL.
	mu       sync.Mutex
	verified map[[32]byte]verifiedToken
}

type verifiedToken struct {
	id    *Identity
	until time.Time
}

const (
	verifiedTTL = time.Minute
	verifiedMax = 10000
)

// NewValidator trusts the Keycloak issuer of cfg (keys discovered lazily).
func NewValidator(cfg Config) *Validator {
	v := &Validator{issuers: map[string]*keySource{}, audiences: cfg.AcceptedAudiences(), clientID: cfg.ClientID,
		leeway: cfg.Leeway, now: time.Now}
	v.issuers[cfg.Issuer()] = newKeySource(cfg.RealmURL(), cfg.JWKSURL, cfg.JWKSMinRefresh, cfg.JWKSCacheTTL)
	return v
}

// TrustIssuer adds an issuer whose public keys are known in-process (the development
// issuer).
func (v *Validator) TrustIssuer(issuer string, keys jwk.Set) {
	v.issuers[issuer] = staticKeys(keys)
}

// claims is the part of a Keycloak access token the product reads.
type claims struct {
	Issuer            string          `json:"iss"`
	Subject           string          `json:"sub"`
	Audience          json.RawMessage `json:"aud"`
	AuthorizedParty   string          `json:"azp"`
	Expiry            *float64        `json:"exp"`
	IssuedAt          *float64        `json:"iat"`
	SessionID         string          `json:"sid"`
	PreferredUsername string          `json:"preferred_username"`
	Email             string          `json:"email"`
	Name              string          `json:"name"`
	GivenName         string          `json:"given_name"`
	FamilyName        string          `json:"family_name"`
	RealmAccess       struct {
		Roles []string `json:"roles"`
	} `json:"realm_access"`
	ResourceAccess map[string]struct {
		Roles []string `json:"roles"`
	} `json:"resource_access"`
	OrganizationID  json.RawMessage `json:"organization_id"`
	OrganizationIDs json.RawMessage `json:"organization_ids"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

// Validate verifies raw (a compact JWS) and returns its identity.
func (v *Validator) Validate(ctx context.Context, raw string) (*Identity, error) {
	if len(raw) > maxTokenBytes {
		return nil, invalid("token too large")
	}
	key := sha256.Sum256([]byte(raw))
	now := v.now()
	v.mu.Lock()
	hit, ok := v.verified[key]
	v.mu.Unlock()
	if ok && now.Before(hit.until) {
		return hit.id, nil
	}
	id, exp, err := v.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	until := now.Add(verifiedTTL)
	if exp.Before(until) {
		until = exp
	}
	v.mu.Lock()
	if v.verified == nil || len(v.verified) >= verifiedMax {
		v.verified = map[[32]byte]verifiedToken{} // bounded: start over rather than grow
	}
	v.verified[key] = verifiedToken{id: id, until: until}
	v.mu.Unlock()
	return id, nil
}

// verify checks signature and claims; it also returns the expiry.
func (v *Validator) verify(ctx context.Context, raw string) (*Identity, time.Time, error) {
	msg, err := jws.ParseString(raw)
	if err != nil {
		return nil, time.Time{}, invalid("malformed token")
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, time.Time{}, invalid("want exactly one signature")
	}
	hdr := sigs[0].ProtectedHeaders()
	algHdr, _ := hdr.Algorithm()
	alg, ok := allowedAlgs[algHdr.String()]
	if !ok {
		return nil, time.Time{}, invalid("algorithm %q not allowed", algHdr.String())
	}
	kid, _ := hdr.KeyID()
	if kid == "" {
		return nil, time.Time{}, invalid("no kid")
	}
	// The issuer picks the key set; it is read before verification only to choose
	// which keys to try, and a forged iss finds no key of an untrusted issuer.
	var unverified claims
	if err := json.Unmarshal(msg.Payload(), &unverified); err != nil {
		return nil, time.Time{}, invalid("malformed claims")
	}
	keys, ok := v.issuers[unverified.Issuer]
	if !ok {
		return nil, time.Time{}, invalid("untrusted issuer %q", unverified.Issuer)
	}
	key, err := keys.key(ctx, kid)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if !keyFits(key, alg) {
		return nil, time.Time{}, invalid("key %q does not fit algorithm %s", kid, alg)
	}
	if _, err := jwt.ParseString(raw, jwt.WithKey(alg, key), jwt.WithValidate(true),
		jwt.WithAcceptableSkew(v.leeway), jwt.WithClock(jwt.ClockFunc(v.now)), jwt.WithIssuer(unverified.Issuer)); err != nil {
		return nil, time.Time{}, invalid("%v", err)
	}
	c := unverified // verified now
	if c.Expiry == nil {
		return nil, time.Time{}, invalid("no exp")
	}
	if c.Subject == "" {
		return nil, time.Time{}, invalid("no sub")
	}
	if !v.audienceOK(c) {
		return nil, time.Time{}, invalid("audience not accepted")
	}
	id := &Identity{Subject: c.Subject, Username: c.PreferredUsername, Email: c.Email, Name: c.Name,
		GivenName: c.GivenName, FamilyName: c.FamilyName, Roles: c.RealmAccess.Roles, SessionID: c.SessionID,
		Issuer: c.Issuer, ClientRoles: map[string][]string{}}
	if c.IssuedAt != nil {
		id.IssuedAt = time.Unix(int64(*c.IssuedAt), 0).UTC()
	}
	for client, ra := range c.ResourceAccess {
		id.ClientRoles[client] = ra.Roles
	}
	id.Organizations = append(stringOrList(c.OrganizationID), stringOrList(c.OrganizationIDs)...)
	id.perms = PermissionsOf(id.Roles, id.ClientRoles[v.clientID])
	return id, time.Unix(int64(*c.Expiry), 0).Add(v.leeway), nil
}

// audienceOK accepts a token whose aud names an accepted audience, or whose azp is
// one: Keycloak puts "account" in aud of a public client's tokens and the client in
// azp unless an audience mapper is configured (the realm import adds one).
func (v *Validator) audienceOK(c claims) bool {
	if len(v.audiences) == 0 {
		return true
	}
	auds := stringOrList(c.Audience)
	for _, a := range v.audiences {
		if slices.Contains(auds, a) || c.AuthorizedParty == a {
			return true
		}
	}
	return false
}

// keyFits refuses a key of the wrong type for alg (defence in depth: jwx checks too).
func keyFits(key jwk.Key, alg jwa.SignatureAlgorithm) bool {
	kty := key.KeyType()
	switch {
	case strings.HasPrefix(alg.String(), "RS"):
		return kty == jwa.RSA()
	case strings.HasPrefix(alg.String(), "ES"):
		return kty == jwa.EC()
	}
	return false
}

// stringOrList decodes a claim that may be a string or a list of strings.
func stringOrList(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	return nil
}
