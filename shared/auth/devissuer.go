package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/tenant"
)

// DefaultOrganizationID is the organisation seeded for the demo (migration 00030):
// development tokens and anonymous callers belong to it.
const DefaultOrganizationID = tenant.DefaultOrganization

// DevUser is a demo user the development issuer mints tokens for.
type DevUser struct {
	Username    string
	Email       string
	GivenName   string
	FamilyName  string
	Roles       []string // realm roles
	ClientRoles []string // roles of the dashboard client
}

// DevUsers are the demo users: the users of the realm import (k8s/base/keycloak,
// same roles; TestDevUsersMatchRealm keeps them in step) plus a bare viewer.
var DevUsers = map[string]DevUser{
	"admin": {"admin", "admin@sqal.local", "Admin", "SQAL", []string{"super_admin", "admin"},
		[]string{"view_sensors", "manage_quality", "export_reports", "calibrate_devices", "view_realtime"}},
	"superviseur": {"superviseur", "superviseur@sqal.local", "Sophie", "Superviseur", []string{"org_admin", "superviseur"},
		[]string{"view_sensors", "manage_quality", "export_reports", "view_realtime"}},
	"qualite": {"qualite", "qualite@sqal.local", "Quentin", "Qualité", []string{"quality_manager"},
		[]string{"view_sensors", "manage_quality", "export_reports", "view_realtime"}},
	"technicien": {"technicien", "technicien@sqal.local", "Thomas", "Technicien", []string{"production_operator", "technicien_sqal"},
		[]string{"view_sensors", "calibrate_devices", "view_realtime"}},
	"analyste":     {"analyste", "analyste@sqal.local", "Anna", "Analyste", []string{"data_analyst"}, []string{"view_sensors", "export_reports"}},
	"gaveur":       {"gaveur", "gaveur@sqal.local", "Jean", "Gaveur", []string{"viewer", "gaveur"}, []string{"view_realtime"}},
	"consommateur": {"consommateur", "consommateur@sqal.local", "Claire", "Consommatrice", []string{"viewer", "consommateur"}, nil},
	"viewer":       {"viewer", "viewer@sqal.local", "Victor", "Viewer", []string{"viewer"}, nil},
}

// DevIssuer mints Keycloak-shaped access tokens for the demo users with a key
// generated at start, so the whole security path runs locally without Keycloak. Its
// public keys are served as a JWKS and trusted in-process by the middleware.
type DevIssuer struct {
	issuer   string
	clientID string
	realm    string
	key      jwk.Key // private
	public   jwk.Set
	ttl      time.Duration
}

// NewDevIssuer generates a fresh ES256 key for issuer.
func NewDevIssuer(issuer, clientID, realm string) (*DevIssuer, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dev issuer key: %w", err)
	}
	key, err := jwk.Import(priv)
	if err != nil {
		return nil, fmt.Errorf("dev issuer key: %w", err)
	}
	kidBytes := make([]byte, 8)
	_, _ = rand.Read(kidBytes)
	kid := "dev-" + hex.EncodeToString(kidBytes)
	if err := key.Set(jwk.KeyIDKey, kid); err != nil {
		return nil, err
	}
	if err := key.Set(jwk.AlgorithmKey, jwa.ES256()); err != nil {
		return nil, err
	}
	pub, err := jwk.PublicKeyOf(key)
	if err != nil {
		return nil, fmt.Errorf("dev issuer public key: %w", err)
	}
	_ = pub.Set(jwk.KeyUsageKey, "sig")
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		return nil, err
	}
	return &DevIssuer{issuer: strings.TrimRight(issuer, "/"), clientID: clientID, realm: realm, key: key,
		public: set, ttl: time.Hour}, nil
}

var (
	devOnce   sync.Once
	devShared *DevIssuer
	devErr    error
)

// SharedDevIssuer returns the process's development issuer (one key per process, so
// that every function of the local all-in-one runner trusts the tokens it mints).
func SharedDevIssuer(cfg Config) (*DevIssuer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.DevIssuer {
		return nil, fmt.Errorf("development token issuer disabled (AUTH_DEV_ISSUER=false)")
	}
	devOnce.Do(func() { devShared, devErr = NewDevIssuer(cfg.DevIssuerURL, cfg.ClientID, cfg.Realm) })
	return devShared, devErr
}

// Issuer is the iss of the minted tokens.
func (d *DevIssuer) Issuer() string { return d.issuer }

// PublicKeys is the JWKS of the issuer.
func (d *DevIssuer) PublicKeys() jwk.Set { return d.public }

// Mint signs a token for a demo user of the default organisation, valid for ttl (0: one
// hour).
func (d *DevIssuer) Mint(username string, ttl time.Duration) (string, error) {
	return d.MintFor(username, DefaultOrganizationID, ttl)
}

// MintFor is Mint for a demo user placed in organisation org (a uuid): how the local
// stack and the tests act as another tenant.
func (d *DevIssuer) MintFor(username, org string, ttl time.Duration) (string, error) {
	org, err := tenant.Parse(org)
	if err != nil {
		return "", err
	}
	u, ok := DevUsers[username]
	if !ok {
		return "", fmt.Errorf("unknown demo user %q", username)
	}
	if ttl <= 0 {
		ttl = d.ttl
	}
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Issuer(d.issuer).
		Subject(uuid.NewSHA1(uuid.NameSpaceURL, []byte("sqal-dev-user:"+u.Username)).String()).
		Audience([]string{d.clientID, "account"}).
		IssuedAt(now).
		NotBefore(now).
		Expiration(now.Add(ttl)).
		JwtID(uuid.NewString()).
		Claim("azp", d.clientID).
		Claim("typ", "Bearer").
		Claim("sid", uuid.NewString()).
		Claim("preferred_username", u.Username).
		Claim("email", u.Email).
		Claim("given_name", u.GivenName).
		Claim("family_name", u.FamilyName).
		Claim("name", u.GivenName+" "+u.FamilyName).
		Claim("realm_access", map[string]any{"roles": u.Roles}).
		Claim("resource_access", map[string]any{d.clientID: map[string]any{"roles": nonNil(u.ClientRoles)}}).
		Claim("organization_id", org).
		Build()
	if err != nil {
		return "", fmt.Errorf("build dev token: %w", err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), d.key))
	if err != nil {
		return "", fmt.Errorf("sign dev token: %w", err)
	}
	return string(signed), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Handler serves, under the issuer's path prefix (e.g. /api/dev):
//
//	GET <prefix>/token?user=admin[&organization_id=<uuid>]  {"access_token","token_type","expires_in"}
//	GET <prefix>/users                       the demo users and their roles
//	GET <prefix>/.well-known/openid-configuration, <prefix>/jwks
func (d *DevIssuer) Handler(prefix string) http.Handler {
	prefix = strings.TrimRight(prefix, "/")
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"/token", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		if user == "" {
			user = "admin"
		}
		org := r.URL.Query().Get("organization_id")
		if org == "" {
			org = DefaultOrganizationID
		}
		if _, err := tenant.Parse(org); err != nil {
			httpapi.Detail(w, http.StatusBadRequest, "organization_id: "+err.Error())
			return
		}
		tok, err := d.MintFor(user, org, 0)
		if err != nil {
			httpapi.Detail(w, http.StatusNotFound, err.Error())
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		httpapi.JSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer",
			"expires_in": int(d.ttl.Seconds()), "user": user})
	})
	mux.HandleFunc("GET "+prefix+"/users", func(w http.ResponseWriter, r *http.Request) {
		names := make([]string, 0, len(DevUsers))
		for n := range DevUsers {
			names = append(names, n)
		}
		sort.Strings(names)
		out := make([]map[string]any, 0, len(names))
		for _, n := range names {
			u := DevUsers[n]
			out = append(out, map[string]any{"username": u.Username, "roles": u.Roles, "clientRoles": nonNil(u.ClientRoles)})
		}
		httpapi.JSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET "+prefix+"/jwks", func(w http.ResponseWriter, r *http.Request) {
		b, err := json.Marshal(d.public)
		if err != nil {
			httpapi.Detail(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET "+prefix+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		httpapi.JSON(w, http.StatusOK, map[string]any{"issuer": d.issuer, "jwks_uri": d.issuer + "/jwks",
			"id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	return mux
}
