package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateForgedTokens(t *testing.T) {
	tr := newTestRealm(t)
	v := NewValidator(tr.config())
	forger := testRSAKeys(t)[1]
	now := time.Now().Unix()
	with := func(mod func(c map[string]any)) map[string]any {
		c := tr.claimsFor("alice", "viewer")
		mod(c)
		return c
	}
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid RS256", tr.sign(t, "RS256", "rsa-1", tr.claimsFor("alice", "viewer")), true},
		{"valid ES256", tr.sign(t, "ES256", "ec-1", tr.claimsFor("alice", "viewer")), true},
		{"audience in aud, azp absent", tr.sign(t, "RS256", "rsa-1", with(func(c map[string]any) {
			delete(c, "azp")
			c["aud"] = []string{"sqal-frontend", "account"}
		})), true},
		{"alg none", tr.sign(t, "none", "rsa-1", tr.claimsFor("alice", "super_admin")), false},
		{"HS256 keyed with the public key", tr.sign(t, "HS256", "rsa-1", tr.claimsFor("alice", "super_admin")), false},
		{"wrong key, known kid", signWith(t, forger, "rsa-1", tr.claimsFor("alice", "super_admin")), false},
		{"RS256 signature on an EC kid", tr.sign(t, "RS256", "ec-1", tr.claimsFor("alice", "viewer")), false},
		{"expired", tr.sign(t, "RS256", "rsa-1", with(func(c map[string]any) { c["exp"] = now - 120 })), false},
		{"expired within leeway", tr.sign(t, "RS256", "rsa-1", with(func(c map[string]any) { c["exp"] = now - 10 })), true},
		{"not yet valid", tr.sign(t, "RS256", "rsa-1", with(func(c map[string]any) { c["nbf"] = now + 600 })), false},
		{"no exp", tr.sign(t, "RS256", "rsa-1", with(func(c map[string]any) { delete(c, "exp") })), false},
		{"no sub", tr.sign(t, "RS256", "rsa-1", with(func(c map[string]any) { delete(c, "sub") })), false},
		{"wrong issuer", tr.sign(t, "RS256", "rsa-1", with(func(c map[string]any) { c["iss"] = "https://evil.example/realms/sqal_realm" })), false},
		{"issuer of another realm, same host", tr.sign(t, "RS256", "rsa-1", with(func(c map[string]any) { c["iss"] = tr.srv.URL + "/realms/other" })), false},
		{"wrong audience", tr.sign(t, "RS256", "rsa-1", with(func(c map[string]any) { c["aud"] = "other"; c["azp"] = "other" })), false},
		{"no kid", tr.sign(t, "RS256", "", tr.claimsFor("alice", "viewer")), false},
		{"unknown kid", tr.sign(t, "RS256", "nope", tr.claimsFor("alice", "viewer")), false},
		{"tampered payload", tamper(tr.sign(t, "RS256", "rsa-1", tr.claimsFor("alice", "viewer")), tr.claimsFor("alice", "super_admin")), false},
		{"garbage", "not.a.token", false},
		{"empty", "", false},
		{"huge", strings.Repeat("a", maxTokenBytes+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Validate(context.Background(), tt.token)
			if tt.ok {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if id.Username != "alice" || !id.Can(DashboardView) || id.Can(AIManage) {
					t.Fatalf("identity %+v perms %v", id, id.Permissions())
				}
				return
			}
			if err == nil {
				t.Fatalf("forged token accepted: %+v", id)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
		})
	}
}

// tamper swaps the payload of a signed token for claims, keeping the signature.
func tamper(tok string, claims map[string]any) string {
	parts := strings.Split(tok, ".")
	parts[1] = b64(mustJSON(claims))
	return strings.Join(parts, ".")
}

func TestClaimsLayout(t *testing.T) {
	tr := newTestRealm(t)
	v := NewValidator(tr.config())
	c := tr.claimsFor("bob", "gaveur", "made_up_role")
	c["resource_access"] = map[string]any{
		"sqal-frontend": map[string]any{"roles": []string{"export_reports"}},
		"other-client":  map[string]any{"roles": []string{"view_sensors"}}, // not our client: grants nothing
	}
	c["organization_ids"] = []string{"org-a", "org-b"}
	c["email"], c["given_name"], c["family_name"] = "bob@x", "Bob", "B"
	id, err := v.Validate(context.Background(), tr.sign(t, "RS256", "rsa-1", c))
	if err != nil {
		t.Fatal(err)
	}
	if !id.Can(LotsView) || !id.Can(AnalysisExport) || id.Can(AnalysisView) {
		t.Fatalf("permissions %v", id.Permissions())
	}
	if len(id.Organizations) != 2 || id.Email != "bob@x" || id.SessionID != "sid-bob" || id.ClientRoles["sqal-frontend"][0] != "export_reports" {
		t.Fatalf("identity %+v", id)
	}
}

func TestJWKSRefreshIsRateBound(t *testing.T) {
	tr := newTestRealm(t)
	cfg := tr.config()
	cfg.JWKSMinRefresh = time.Hour
	v := NewValidator(cfg)
	ks := v.issuers[tr.issuer()]
	clock := time.Now()
	ks.now = func() time.Time { return clock }
	ctx := context.Background()
	if _, err := v.Validate(ctx, tr.sign(t, "RS256", "rsa-1", tr.claimsFor("a", "viewer"))); err != nil {
		t.Fatal(err)
	}
	// A flood of unknown kids costs at most one fetch per interval.
	for i := 0; i < 50; i++ {
		if _, err := v.Validate(ctx, tr.sign(t, "RS256", "forged-kid", tr.claimsFor("a", "viewer"))); err == nil {
			t.Fatal("unknown kid accepted")
		}
	}
	if n := tr.fetches.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}
	// Rotation: the realm publishes a new key; once the interval passed, the unknown
	// kid triggers one refetch and the new key verifies.
	tr.addKey(t, "rsa-2", &testRSAKeys(t)[1].PublicKey)
	rotated := signWith(t, testRSAKeys(t)[1], "rsa-2", tr.claimsFor("a", "viewer"))
	if _, err := v.Validate(ctx, rotated); err == nil {
		t.Fatal("new kid accepted before the refresh interval: the rate bound is not applied")
	}
	clock = clock.Add(time.Hour + time.Second)
	if _, err := v.Validate(ctx, rotated); err != nil {
		t.Fatalf("rotated key after refresh: %v", err)
	}
	if n := tr.fetches.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", n)
	}
}

func TestIssuerDownAtStart(t *testing.T) {
	cfg := Config{Mode: ModeEnforce, KeycloakURL: "http://127.0.0.1:1", Realm: "x", ClientID: "c", JWKSMinRefresh: time.Minute, JWKSCacheTTL: time.Hour}
	v := NewValidator(cfg)
	tr := newTestRealm(t)
	c := tr.claimsFor("a", "viewer")
	c["iss"] = cfg.Issuer()
	if _, err := v.Validate(context.Background(), tr.sign(t, "RS256", "rsa-1", c)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("want invalid token while the issuer is unreachable, got %v", err)
	}
}

func FuzzValidate(f *testing.F) {
	tr := newTestRealm(f)
	v := NewValidator(tr.config())
	f.Add(tr.sign(f, "RS256", "rsa-1", tr.claimsFor("a", "viewer")))
	f.Add(tr.sign(f, "none", "rsa-1", tr.claimsFor("a", "viewer")))
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := v.Validate(context.Background(), tok)
		if err == nil && id == nil {
			t.Fatal("nil identity without error")
		}
		if err != nil && !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("error %v does not wrap ErrInvalidToken", err)
		}
	})
}

// TestPublicIssuerInternalKeys: the cluster layout, tokens naming the public issuer
// (KEYCLOAK_ISSUER) while keys come from the internal realm URL.
func TestPublicIssuerInternalKeys(t *testing.T) {
	tr := newTestRealm(t)
	cfg := tr.config()
	cfg.IssuerURL = "http://localhost:8080/realms/sqal_realm"
	v := NewValidator(cfg)
	c := tr.claimsFor("a", "viewer")
	c["iss"] = cfg.IssuerURL
	if _, err := v.Validate(context.Background(), tr.sign(t, "RS256", "rsa-1", c)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(context.Background(), tr.sign(t, "RS256", "rsa-1", tr.claimsFor("a", "viewer"))); err == nil {
		t.Fatal("internal issuer accepted although KEYCLOAK_ISSUER names another")
	}
}

// TestVerifiedCacheHonoursExpiry: a cached token stops being accepted when it expires.
func TestVerifiedCacheHonoursExpiry(t *testing.T) {
	tr := newTestRealm(t)
	v := NewValidator(tr.config())
	clock := time.Now()
	v.now = func() time.Time { return clock }
	c := tr.claimsFor("a", "viewer")
	c["exp"] = clock.Unix() + 20
	tok := tr.sign(t, "RS256", "rsa-1", c)
	for i := 0; i < 2; i++ { // second call is served from the cache
		if _, err := v.Validate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	clock = clock.Add(20*time.Second + tr.config().Leeway + time.Second)
	if _, err := v.Validate(context.Background(), tok); err == nil {
		t.Fatal("expired token accepted from the cache")
	}
}
