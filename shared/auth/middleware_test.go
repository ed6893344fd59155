package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/openapi"
	"github.com/sqalfn/sqal/shared/routes"
)

// devConfig is an enforce-mode config trusting the development issuer.
func devConfig(mode string) Config {
	return Config{Mode: mode, KeycloakURL: "http://127.0.0.1:1", Realm: "sqal_realm", ClientID: "sqal-frontend",
		Leeway: 30 * time.Second, JWKSMinRefresh: time.Minute, JWKSCacheTTL: time.Hour,
		DevIssuer: true, DevIssuerAllowEnforce: true, DevIssuerURL: "http://localhost:8000/api/dev"}
}

// echo answers 200 with who the middleware says the caller is.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id := FromContext(r.Context())
	name := "<none>"
	if id != nil {
		name = id.DisplayName()
	}
	_, _ = w.Write([]byte(name))
})

func newTestMiddleware(t testing.TB, cfg Config) http.Handler {
	t.Helper()
	mw, err := NewMiddleware(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mw(echo)
}

func mint(t testing.TB, user string) string {
	t.Helper()
	dev, err := SharedDevIssuer(devConfig(ModeEnforce))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := dev.Mint(user, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func do(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// concrete turns a rule pattern into a request path.
func concrete(pattern string) string {
	segs := segments(pattern)
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "x1"
		}
	}
	return "/" + strings.Join(segs, "/")
}

// TestDenialMatrix: in enforce mode every route answers 401 without or with a bad
// token, 403 without the permission, and reaches the handler otherwise, for every
// demo user, on both trailing-slash spellings.
func TestDenialMatrix(t *testing.T) {
	h := newTestMiddleware(t, devConfig(ModeEnforce))
	tokens := map[string]string{}
	for u := range DevUsers {
		tokens[u] = mint(t, u)
	}
	badToken := mint(t, "admin")[:40] + "x" + mint(t, "admin")[41:]
	for _, rule := range Rules {
		for _, path := range []string{concrete(rule.Path), concrete(rule.Path) + "/"} {
			passes := rule.Permission == Public || rule.Permission == DeviceKey || rule.Permission == Internal
			for _, c := range []struct{ who, token string }{{"no token", ""}, {"bad token", badToken}} {
				want := http.StatusUnauthorized
				if passes {
					want = http.StatusOK
				}
				rec := do(h, rule.Method, path, c.token)
				if rec.Code != want {
					t.Errorf("%s %s with %s: %d, want %d", rule.Method, path, c.who, rec.Code, want)
				}
				if want == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("%s %s: 401 without a Bearer challenge", rule.Method, path)
				}
			}
			for user, tok := range tokens {
				u := DevUsers[user]
				id := &Identity{perms: PermissionsOf(u.Roles, u.ClientRoles)}
				want := http.StatusForbidden
				if passes || rule.Permission == Authenticated || id.Can(rule.Permission) {
					want = http.StatusOK
				}
				if rec := do(h, rule.Method, path, tok); rec.Code != want {
					t.Errorf("%s %s as %s: %d, want %d (%s)", rule.Method, path, user, rec.Code, want, rec.Body)
				}
			}
		}
	}
}

// TestDenialSpotChecks pins decisions of the table by hand (the matrix above derives
// its expectations from the table; these do not).
func TestDenialSpotChecks(t *testing.T) {
	h := newTestMiddleware(t, devConfig(ModeEnforce))
	tests := []struct {
		user, method, path string
		want               int
	}{
		{"viewer", "GET", "/api/sqal/dashboard/overview", 200},
		{"viewer", "GET", "/api/ai/models/", 200},
		{"viewer", "POST", "/api/ai/models/m1/activate/", 403},
		{"viewer", "GET", "/api/admin/devices/", 403},
		{"viewer", "GET", "/api/users/me", 200},
		{"viewer", "GET", "/api/export/samples", 403},
		{"technicien", "GET", "/api/admin/devices/", 200},
		{"technicien", "POST", "/api/admin/calibration/start/", 200},
		{"technicien", "PATCH", "/api/admin/devices/ESP32_LL_01", 403},
		{"technicien", "POST", "/api/ai/training/", 200},
		{"qualite", "GET", "/api/admin/audit/", 200},
		{"qualite", "GET", "/api/admin/users/", 403},
		{"qualite", "POST", "/api/sqal/alerts/1/acknowledge", 200},
		{"superviseur", "GET", "/api/admin/users/", 200},
		{"superviseur", "POST", "/api/organizations/", 403},
		{"superviseur", "DELETE", "/api/organizations/o1", 403},
		{"superviseur", "POST", "/api/ai/models/m1/activate", 403}, // the shared model: super_admin
		{"superviseur", "PATCH", "/api/admin/settings", 403},       // shared settings: super_admin
		{"superviseur", "GET", "/api/admin/settings", 200},
		{"admin", "POST", "/api/ai/models/m1/activate", 200},
		{"admin", "POST", "/api/organizations/", 200},
		{"analyste", "GET", "/api/export/samples", 200},
		{"analyste", "GET", "/api/admin/audit/", 403},
		{"gaveur", "GET", "/api/lots/3468/qualite", 200},
		{"gaveur", "POST", "/api/ai/training/", 403},
		{"gaveur", "POST", "/api/sqal/alerts/1/acknowledge", 403},
		{"consommateur", "GET", "/api/lots/3468/qualite", 200},
		{"consommateur", "GET", "/api/admin/devices/", 403},
		{"admin", "GET", "/api/not/a/route", 403},
		{"", "GET", "/api/sqal/health", 200},
		{"", "GET", "/api/sqal/devices", 401},
		{"", "GET", "/ws/sensors/", 200},
		{"", "POST", "/api/ingest/samples", 200},
		{"", "GET", "/ws/realtime/", 401},
		{"", "POST", "/", 200},       // predict's CloudEvent deliveries
		{"", "POST", "/events", 200}, // realtime's
		{"viewer", "POST", "/v2/models/m/versions/1/infer", 403},
		{"technicien", "POST", "/v2/models/m/versions/1/infer", 200},
	}
	for _, tt := range tests {
		tok := ""
		if tt.user != "" {
			tok = mint(t, tt.user)
		}
		if rec := do(h, tt.method, tt.path, tok); rec.Code != tt.want {
			t.Errorf("%s %s as %q: %d, want %d (%s)", tt.method, tt.path, tt.user, rec.Code, tt.want, rec.Body)
		}
	}
}

func TestErrorShapes(t *testing.T) {
	h := newTestMiddleware(t, devConfig(ModeEnforce))
	rec := do(h, "GET", "/api/sqal/devices", "")
	var body map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != 401 || body["detail"] != "Could not validate credentials" || rec.Header().Get("WWW-Authenticate") != `Bearer realm="sqal_realm"` {
		t.Fatalf("401: %d %v %q", rec.Code, body, rec.Header().Get("WWW-Authenticate"))
	}
	rec = do(h, "GET", "/api/sqal/devices", "abc.def.ghi")
	if rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("bad token: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	rec = do(h, "GET", "/api/admin/users/", mint(t, "viewer"))
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != 403 || body["detail"] != "Permission 'users:view' required" {
		t.Fatalf("403: %d %v", rec.Code, body)
	}
}

func TestOpenMode(t *testing.T) {
	cfg := devConfig(ModeOpen)
	h := newTestMiddleware(t, cfg)
	tests := []struct{ name, method, path, token, want string }{
		{"anonymous gets full access", "DELETE", "/api/organizations/o1", "", "anonymous"},
		{"valid token identified", "GET", "/api/sqal/devices", mint(t, "viewer"), "viewer"},
		{"bad token stays anonymous", "GET", "/api/sqal/devices", "dev-token-bypass-auth", "anonymous"},
		{"unknown route", "GET", "/api/whatever", "", "anonymous"},
	}
	for _, tt := range tests {
		rec := do(h, tt.method, tt.path, tt.token)
		if rec.Code != 200 || rec.Body.String() != tt.want {
			t.Errorf("%s: %d %q, want 200 %q", tt.name, rec.Code, rec.Body, tt.want)
		}
	}
}

func TestWebSocketQueryToken(t *testing.T) {
	h := newTestMiddleware(t, devConfig(ModeEnforce))
	for _, tt := range []struct {
		query string
		want  int
	}{{"", 401}, {"?token=" + mint(t, "viewer"), 200}, {"?access_token=" + mint(t, "viewer"), 200}, {"?token=dev-token-bypass-auth", 401}, {"?token=" + mint(t, "consommateur"), 200}} {
		req := httptest.NewRequest("GET", "/ws/realtime/"+tt.query, nil)
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Connection", "Upgrade")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("/ws/realtime/%.30s: %d, want %d", tt.query, rec.Code, tt.want)
		}
	}
}

func TestDevIssuerRefusedInEnforce(t *testing.T) {
	cfg := devConfig(ModeEnforce)
	cfg.DevIssuerAllowEnforce = false
	if _, err := NewMiddleware(context.Background(), cfg, nil); err != ErrDevIssuerInEnforce {
		t.Fatalf("want ErrDevIssuerInEnforce, got %v", err)
	}
	for _, mode := range []string{"", "permissive"} {
		if err := (Config{Mode: mode}).Validate(); err == nil {
			t.Errorf("AUTH_MODE=%q accepted", mode)
		}
	}
}

// TestRulesCoverEveryRoute: every operation of every function's OpenAPI fragment has a
// permission, and every rule names an operation that exists (or a route that has no
// OpenAPI entry by nature: WebSockets, ingestion, event deliveries).
func TestRulesCoverEveryRoute(t *testing.T) {
	frags, err := openapi.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, f := range frags {
		for _, op := range openapi.Operations(f.Doc) {
			rule, ok := matchRule(op.Method, op.Path)
			if !ok {
				t.Errorf("%s (%s) has no permission in auth.Rules", op, f.Service)
				continue
			}
			if segments(rule.Path) == nil || strings.Join(segments(rule.Path), "/") != strings.Join(segments(op.Path), "/") {
				t.Errorf("%s (%s) matched by %s %s: give it its own rule", op, f.Service, rule.Method, rule.Path)
			}
			documented[op.Method+" "+strings.Join(segments(op.Path), "/")] = true
		}
	}
	undocumented := map[string]bool{ // routes no OpenAPI fragment describes
		"GET ws/sensors": true, "POST api/ingest/samples": true, "POST api/ingest/events": true,
		"GET ws/realtime": true, "POST events": true, "POST ": true,
		"GET v2/models/{name}/versions/{version}": true, "GET v2/models/{name}/versions/{version}/ready": true,
		"POST v2/models/{name}/versions/{version}/infer": true,
	}
	// A rule of a function whose fragment is not published yet (being built in
	// parallel) is checked once the fragment lands.
	withFragment := map[string]bool{}
	for _, f := range frags {
		withFragment[f.Service] = true
	}
	table := routes.Default()
	for _, r := range Rules {
		k := r.Method + " " + strings.Join(segments(r.Path), "/")
		svc := table.Match(concrete(r.Path))
		if !documented[k] && !undocumented[k] && withFragment[svc] {
			t.Errorf("rule %s (%s) has no OpenAPI operation", k, svc)
		}
	}
}

func FuzzMatchRule(f *testing.F) {
	for _, r := range Rules {
		f.Add(r.Method, concrete(r.Path))
	}
	f.Add("GET", "//api//users/")
	f.Fuzz(func(t *testing.T, method, path string) {
		rule, ok := matchRule(method, path)
		if ok && rule.Method != method && !(method == "HEAD" && rule.Method == "GET") {
			t.Fatalf("%s %s matched %v", method, path, rule)
		}
	})
}

// TestDevUsersMatchRealm keeps the development issuer's users, the permissions table
// and the Keycloak realm import (k8s/base/keycloak/sqal-realm.json) in step: every
// realm and client role of the import is mapped, and every demo user of the import
// has a development twin with the same roles.
func TestDevUsersMatchRealm(t *testing.T) {
	data, err := os.ReadFile("../../k8s/base/keycloak/sqal-realm.json")
	if err != nil {
		t.Skip("realm import not found (not in the repository)")
	}
	var realm struct {
		Roles struct {
			Realm  []struct{ Name string }            `json:"realm"`
			Client map[string][]struct{ Name string } `json:"client"`
		} `json:"roles"`
		Users []struct {
			Username    string              `json:"username"`
			ServiceOf   string              `json:"serviceAccountClientId"`
			RealmRoles  []string            `json:"realmRoles"`
			ClientRoles map[string][]string `json:"clientRoles"`
		} `json:"users"`
	}
	if err := json.Unmarshal(data, &realm); err != nil {
		t.Fatal(err)
	}
	for _, r := range realm.Roles.Realm {
		if _, ok := RolePermissions[r.Name]; !ok {
			t.Errorf("realm role %s has no permissions", r.Name)
		}
	}
	for _, r := range realm.Roles.Client["sqal-frontend"] {
		if _, ok := ClientRolePermissions[r.Name]; !ok {
			t.Errorf("client role %s has no permissions", r.Name)
		}
	}
	for _, u := range realm.Users {
		if u.ServiceOf != "" {
			continue // a client's service account, not a person
		}
		d, ok := DevUsers[u.Username]
		if !ok {
			t.Errorf("realm user %s has no development twin", u.Username)
			continue
		}
		if !sameSet(d.Roles, u.RealmRoles) || !sameSet(d.ClientRoles, u.ClientRoles["sqal-frontend"]) {
			t.Errorf("user %s: dev roles %v/%v, realm %v/%v", u.Username, d.Roles, d.ClientRoles, u.RealmRoles, u.ClientRoles)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// BenchmarkMiddleware measures what every request pays: open mode (route lookup only)
// and enforce mode with a valid token.
func BenchmarkMiddleware(b *testing.B) {
	for _, mode := range []string{ModeOpen, ModeEnforce} {
		b.Run(mode, func(b *testing.B) {
			h := newTestMiddleware(b, devConfig(mode))
			tok := mint(b, "viewer")
			req := httptest.NewRequest("GET", "/api/sqal/dashboard/overview", nil)
			if mode == ModeEnforce {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
