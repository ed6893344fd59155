package adminapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/auth"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/openapi"
	"github.com/sqalfn/sqal/shared/testenv"
)

var now = time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)

type testAPI struct {
	t      *testing.T
	db     *pgxpool.Pool // the owner's: seeds and checks, outside row-level security
	h      http.Handler
	tokens map[string]string // one token (one session) per user
	orgs   map[string]string // user -> organisation of its token (default: the default one)
}

// newTestAPI serves admin-api behind the real auth middleware in mode (the dev
// issuer trusted so tests can mint tokens), connected as the application role: under
// row-level security, as deployed.
func newTestAPI(t *testing.T, mode string) *testAPI {
	t.Helper()
	app, owner := testenv.AppDB(t)
	db := database.NewDB(app)
	h, err := New(db, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := auth.NewMiddleware(context.Background(), authConfig(mode), nil, auth.WithDB(db))
	if err != nil {
		t.Fatal(err)
	}
	return &testAPI{t: t, db: owner, h: mw(h), tokens: map[string]string{}, orgs: map[string]string{}}
}

func authConfig(mode string) auth.Config {
	return auth.Config{Mode: mode, KeycloakURL: "http://127.0.0.1:1", Realm: "sqal_realm", ClientID: "sqal-frontend",
		Leeway: 30 * time.Second, JWKSMinRefresh: time.Minute, JWKSCacheTTL: time.Hour, DevIssuer: true,
		DevIssuerAllowEnforce: true, DevIssuerURL: "http://localhost:8000/api/dev"}
}

func token(t *testing.T, user, org string) string {
	t.Helper()
	dev, err := auth.SharedDevIssuer(authConfig(auth.ModeEnforce))
	if err != nil {
		t.Fatal(err)
	}
	if org == "" {
		org = auth.DefaultOrganizationID
	}
	tok, err := dev.MintFor(user, org, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (ta *testAPI) exec(sql string, args ...any) {
	ta.t.Helper()
	if _, err := ta.db.Exec(context.Background(), sql, args...); err != nil {
		ta.t.Fatalf("%s: %v", sql, err)
	}
}

// call sends a request as user ("" = no token; "name@org" = the demo user name in
// organisation org) and decodes the JSON answer.
func (ta *testAPI) call(user, method, target, body string) (int, map[string]any, []byte) {
	ta.t.Helper()
	if name, org, ok := strings.Cut(user, "@"); ok && ta.tokens[user] == "" {
		ta.tokens[user] = token(ta.t, name, org)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.RemoteAddr = "192.0.2.7:4444"
	if user != "" {
		if ta.tokens[user] == "" {
			ta.tokens[user] = token(ta.t, user, ta.orgs[user])
		}
		req.Header.Set("Authorization", "Bearer "+ta.tokens[user])
	}
	rec := httptest.NewRecorder()
	ta.h.ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m, rec.Body.Bytes()
}

func (ta *testAPI) want(user, method, target, body string, status int) map[string]any {
	ta.t.Helper()
	code, m, raw := ta.call(user, method, target, body)
	if code != status {
		ta.t.Fatalf("%s %s as %q: %d, want %d: %s", method, target, user, code, status, raw)
	}
	return m
}

func TestDevices(t *testing.T) {
	ta := newTestAPI(t, auth.ModeOpen)
	ta.exec(`DELETE FROM sqal_devices`) // demo rows seeded by the read APIs' migrations
	ta.exec(`INSERT INTO sqal_devices (device_id, device_name, firmware_version, site_code, status, last_seen, metadata) VALUES
		('ESP32_LL_01', 'Station LL', '1.0.0', 'LL', 'active', $1, '{"hello": {"location": "Ligne A", "ip_address": "192.168.1.10", "mac_address": "24:0A"}}'),
		('ESP32_LS_01', NULL, NULL, 'LS', 'active', $2, NULL),
		('ESP32_MT_01', 'Station MT', NULL, 'MT', 'maintenance', $1, NULL),
		('ESP32_NEW', NULL, NULL, NULL, 'active', NULL, NULL)`, now.Add(-30*time.Second), now.Add(-10*time.Minute))
	ta.exec(`INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade, fusion_is_compliant)
		VALUES ($1, 'ESP32_LL_01', 's1', 0.8, 'A', true), ($1, 'ESP32_LL_01', 's2', 0.8, 'A', true), ($1, 'ESP32_LS_01', 's3', 0.3, 'REJECT', false)`, now)

	for _, path := range []string{"/api/admin/devices/", "/api/admin/devices"} {
		m := ta.want("", "GET", path, "", 200)
		if m["total"] != 4.0 || m["online"] != 1.0 || m["offline"] != 2.0 {
			t.Fatalf("%s counters: %v", path, m)
		}
		devs := m["devices"].([]any)
		first := devs[0].(map[string]any)
		if first["id"] != "ESP32_LL_01" || first["status"] != "online" || first["totalMeasurements"] != 2.0 ||
			first["location"] != "Ligne A" || first["firmware"] != "1.0.0" || first["ipAddress"] != "192.168.1.10" || first["name"] != "Station LL" {
			t.Fatalf("first device: %v", first)
		}
	}
	d := ta.want("", "GET", "/api/admin/devices/ESP32_LS_01/", "", 200)
	if d["name"] != "ESP32_LS_01" || d["status"] != "offline" || d["location"] != "LS" || d["totalMeasurements"] != 1.0 || d["type"] != "ESP32" {
		t.Fatalf("device fallback fields: %v", d)
	}
	if d := ta.want("", "GET", "/api/admin/devices/ESP32_MT_01", "", 200); d["status"] != "maintenance" {
		t.Fatalf("maintenance must win: %v", d)
	}
	if m := ta.want("", "GET", "/api/admin/devices/nope", "", 404); m["detail"] != "Device not found" {
		t.Fatalf("404: %v", m)
	}
	m := ta.want("", "PATCH", "/api/admin/devices/ESP32_LS_01", `{"name": "Station LS", "firmwareVersion": "2.0", "status": "maintenance"}`, 200)
	if dev := m["device"].(map[string]any); dev["name"] != "Station LS" || dev["firmware"] != "2.0" || dev["status"] != "maintenance" {
		t.Fatalf("patched: %v", m)
	}
	ta.want("", "PATCH", "/api/admin/devices/ESP32_LS_01", `{"status": "bogus"}`, 422)
	// The anonymous caller of open mode acts for the default organisation: moving a
	// device elsewhere is the super_admin's (TestTenantIsolationAdmin).
	ta.want("", "PATCH", "/api/admin/devices/ESP32_LS_01", `{"organization_id": "00000000-0000-4000-8000-00000000dead"}`, 403)
	ta.want("", "PATCH", "/api/admin/devices/ESP32_LS_01", `{"organization_id": "`+auth.DefaultOrganizationID+`"}`, 200)
	ta.want("", "DELETE", "/api/admin/devices/ESP32_NEW", "", 200)
	ta.want("", "GET", "/api/admin/devices/ESP32_NEW", "", 404)
	logs := ta.want("", "GET", "/api/admin/audit/?resource_type=device", "", 200)
	if logs["total"] != 3.0 {
		t.Fatalf("device audit rows: %v", logs)
	}
}

func TestDeviceKeys(t *testing.T) {
	ta := newTestAPI(t, auth.ModeOpen)
	ctx := context.Background()
	authenticates := func(key string) bool {
		// The query ingest runs (functions/ingest/auth.go) on the stored hash.
		var dev string
		err := ta.db.QueryRow(ctx, `SELECT device_id FROM ingest_device_keys WHERE key_hash = sha256(convert_to($1, 'UTF8')) AND revoked_at IS NULL`, key).Scan(&dev)
		return err == nil && dev == "ESP32_KEYED"
	}
	k1 := ta.want("", "POST", "/api/admin/devices/ESP32_KEYED/keys/", `{"note": "first"}`, 201)
	key1 := k1["key"].(string)
	if !strings.HasPrefix(key1, "sqd_") || len(key1) < 40 || !authenticates(key1) {
		t.Fatalf("issued key %v", k1)
	}
	// Registered on provisioning.
	ta.want("", "GET", "/api/admin/devices/ESP32_KEYED", "", 200)
	// Rotation revokes the first key in the same transaction.
	k2 := ta.want("", "POST", "/api/admin/devices/ESP32_KEYED/keys", `{"rotate": true}`, 201)
	if k2["revoked"] != 1.0 || authenticates(key1) || !authenticates(k2["key"].(string)) {
		t.Fatalf("rotation: %v", k2)
	}
	list := ta.want("", "GET", "/api/admin/devices/ESP32_KEYED/keys/", "", 200)
	if list["total"] != 2.0 || strings.Contains(mustJSON(t, list), key1) {
		t.Fatalf("key list leaks or miscounts: %v", list)
	}
	ta.want("", "DELETE", "/api/admin/devices/ESP32_KEYED/keys/"+k2["id"].(string), "", 200)
	if authenticates(k2["key"].(string)) {
		t.Fatal("revoked key still authenticates")
	}
	ta.want("", "DELETE", "/api/admin/devices/ESP32_KEYED/keys/not-a-uuid", "", 404)
	logs := ta.want("", "GET", "/api/admin/audit/?resource_type=device_credential", "", 200)
	if logs["total"] != 3.0 {
		t.Fatalf("credential audit rows: %v", logs)
	}
	// The stored hash never contains the key.
	var n int
	_ = ta.db.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE changes LIKE '%' || $1 || '%' OR details LIKE '%' || $1 || '%'`, key1).Scan(&n)
	if n != 0 {
		t.Fatal("a device key reached the audit trail")
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCalibration(t *testing.T) {
	ta := newTestAPI(t, auth.ModeOpen)
	ta.exec(`INSERT INTO sqal_devices (device_id) VALUES ('ESP32_CAL')`)
	c := ta.want("", "POST", "/api/admin/calibration/start/", `{"device_id": "ESP32_CAL", "sensor_type": "tof"}`, 201)
	if c["status"] != "pending" || c["progress"] != 0.0 || c["device_id"] != "ESP32_CAL" || c["parameters"].(map[string]any)["sensor_type"] != "tof" {
		t.Fatalf("calibration: %v", c)
	}
	ta.want("", "POST", "/api/admin/calibration/start", `{"device_id": "ESP32_CAL", "sensor_type": "uv"}`, 422)
	ta.want("", "POST", "/api/admin/calibration/start/", `{"device_id": "ghost", "sensor_type": "as7341"}`, 404)
	ta.want("", "POST", "/api/admin/calibration/start/", `{"sensor_type": "as7341"}`, 422)
	code, _, raw := ta.call("", "GET", "/api/admin/calibration/?device_id=ESP32_CAL", "")
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); code != 200 || err != nil || len(list) != 1 {
		t.Fatalf("calibration list: %d %s", code, raw)
	}
}

func TestAdvanceCalibration(t *testing.T) {
	start := now
	tests := []struct {
		after    time.Duration
		status   string
		progress int
	}{{0, "pending", 0}, {time.Minute, "in_progress", 50}, {3 * time.Minute, "completed", 100}}
	for _, tt := range tests {
		var c calibration
		advance(&c, start, start.Add(tt.after))
		if c.Status != tt.status || c.Progress != tt.progress {
			t.Errorf("after %s: %s %d", tt.after, c.Status, c.Progress)
		}
	}
}

func TestUsers(t *testing.T) {
	ta := newTestAPI(t, auth.ModeOpen)
	m := ta.want("", "GET", "/api/admin/users/", "", 200)
	if m["total"] != 7.0 || m["active"] != 7.0 {
		t.Fatalf("seeded users: %v", m)
	}
	u := m["users"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "username", "email", "isStaff", "roles", "lastLogin", "isActive", "dateJoined"} {
		if _, ok := u[k]; !ok {
			t.Fatalf("user lacks %s: %v", k, u)
		}
	}
	created := ta.want("", "POST", "/api/admin/users/", `{"username": "zoe", "email": "zoe@x", "first_name": "Zoé", "roles": ["org_admin"]}`, 201)
	id := created["id"].(string)
	if created["message"] != "User created successfully" || created["isStaff"] != true || created["firstName"] != "Zoé" {
		t.Fatalf("created: %v", created)
	}
	ta.want("", "POST", "/api/admin/users/", `{"username": "zoe"}`, 409)
	ta.want("", "POST", "/api/admin/users/", `{"email": "x"}`, 422)
	ta.want("", "POST", "/api/admin/users/", `not json`, 422)
	p := ta.want("", "PATCH", "/api/admin/users/"+id, `{"isActive": false, "lastName": "Z"}`, 200)
	if p["isActive"] != false || p["lastName"] != "Z" {
		t.Fatalf("patched: %v", p)
	}
	if g := ta.want("", "GET", "/api/users/"+id+"/", "", 200); g["organizationId"] != auth.DefaultOrganizationID {
		t.Fatalf("mirror route: %v", g)
	}
	ta.want("", "GET", "/api/users/", "", 200)
	ta.want("", "DELETE", "/api/admin/users/"+id, "", 200)
	if m := ta.want("", "GET", "/api/admin/users/"+id, "", 404); m["detail"] != "User not found" {
		t.Fatalf("404: %v", m)
	}
	ta.want("", "GET", "/api/admin/users/not-a-uuid", "", 404)
	logs := ta.want("", "GET", "/api/admin/audit/?resource_type=user&limit=10", "", 200)
	if logs["total"] != 3.0 {
		t.Fatalf("user audit rows: %v", logs)
	}
}

func TestAuditAndVerify(t *testing.T) {
	ta := newTestAPI(t, auth.ModeEnforce)
	ta.want("admin", "PATCH", "/api/admin/settings/", `{"systemName": "SQAL Prod", "maintenanceMode": true}`, 200)
	ta.want("admin", "POST", "/api/organizations/", `{"name": "Site Test", "type": "site"}`, 201)
	m := ta.want("superviseur", "GET", "/api/admin/audit/?limit=50", "", 200)
	logs := m["logs"].([]any)
	// admin and superviseur logged in (one login each), then two admin changes.
	if m["total"] != 4.0 || len(logs) != 4 {
		t.Fatalf("audit: %v", m)
	}
	if l := logs[0].(map[string]any); l["action"] != "login" || l["userName"] != "superviseur" {
		t.Fatalf("newest row is the reader's login: %v", l)
	}
	newest := logs[1].(map[string]any)
	if newest["action"] != "create" || newest["resourceType"] != "organization" || newest["userName"] != "admin" ||
		newest["ipAddress"] != "192.0.2.7" {
		t.Fatalf("newest row: %v", newest)
	}
	for _, l := range logs {
		if _, isStr := l.(map[string]any)["details"].(string); !isStr {
			t.Fatalf("details must be a string: %v", l)
		}
	}
	if f := ta.want("superviseur", "GET", "/api/admin/audit/?action=login", "", 200); f["total"] != 2.0 {
		t.Fatalf("filtered total: %v", f)
	}
	ta.want("superviseur", "GET", "/api/admin/audit/?from=yesterday", "", 422)
	if v := ta.want("superviseur", "GET", "/api/admin/audit/verify", "", 200); v["valid"] != true || v["checked"] != 4.0 {
		t.Fatalf("verify: %v", v)
	}
	conn, err := ta.db.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = conn.Exec(ctx, `SET session_replication_role = replica`)
	if _, err := conn.Exec(ctx, `UPDATE audit_log SET details = 'rien' WHERE resource_type = 'settings'`); err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Exec(ctx, `SET session_replication_role = origin`)
	conn.Release()
	if v := ta.want("superviseur", "GET", "/api/admin/audit/verify/", "", 409); v["valid"] != false {
		t.Fatalf("tampered verify: %v", v)
	}
	// The application cannot edit it without the superuser's trick.
	if _, err := ta.db.Exec(ctx, `UPDATE audit_log SET details = 'x'`); err == nil {
		t.Fatal("audit_log accepted an UPDATE")
	}
}

func TestSettings(t *testing.T) {
	ta := newTestAPI(t, auth.ModeOpen)
	s := ta.want("", "GET", "/api/admin/settings/", "", 200)
	if s["systemName"] != "SQAL" || s["timezone"] != "UTC" || s["language"] != "fr" || s["maintenanceMode"] != false {
		t.Fatalf("defaults: %v", s)
	}
	ta.want("", "PATCH", "/api/admin/settings", `{"language": "en"}`, 200)
	if s := ta.want("", "GET", "/api/admin/settings", "", 200); s["language"] != "en" {
		t.Fatalf("not persisted: %v", s)
	}
	ta.want("", "PATCH", "/api/admin/settings/", `{"maintenanceMode": "yes"}`, 422)
	ta.want("", "PATCH", "/api/admin/settings/", `{"unknown": 1}`, 422)
}

func TestOrganizations(t *testing.T) {
	ta := newTestAPI(t, auth.ModeEnforce)
	// The super_admin sees every organisation: the default one and its three sites.
	m := ta.want("admin", "GET", "/api/organizations/", "", 200)
	if m["total"] != 4.0 {
		t.Fatalf("seeded organisations: %v", m)
	}
	// An organisation's scope sees its own row only (the sites are organisations too).
	if m := ta.want("superviseur", "GET", "/api/organizations/", "", 200); m["total"] != 1.0 {
		t.Fatalf("organisations of the default organisation's scope: %v", m)
	}
	o := ta.want("admin", "POST", "/api/organizations", `{"name": "Ligne 2", "type": "production_line", "parentId": "`+auth.DefaultOrganizationID+`", "contactEmail": "l2@x", "settings": {"timezone": "Europe/Paris"}}`, 201)
	id := o["id"].(string)
	if o["type"] != "production_line" || o["parentId"] != auth.DefaultOrganizationID || o["contactEmail"] != "l2@x" {
		t.Fatalf("created: %v", o)
	}
	ta.want("admin", "POST", "/api/organizations/", `{"name": "Ligne 2"}`, 409)
	ta.want("admin", "POST", "/api/organizations/", `{"name": "X", "type": "galaxy"}`, 422)
	p := ta.want("admin", "PATCH", "/api/organizations/"+id+"/", `{"is_active": false, "description": "arrêtée"}`, 200)
	if p["isActive"] != false || p["description"] != "arrêtée" {
		t.Fatalf("patched: %v", p)
	}
	g := ta.want("admin", "GET", "/api/organizations/"+id, "", 200)
	if g["settings"].(map[string]any)["timezone"] != "Europe/Paris" {
		t.Fatalf("detail: %v", g)
	}
	// org_admin of the default organisation: its own organisation only.
	ta.want("superviseur", "GET", "/api/organizations/"+id, "", 404)
	ta.want("superviseur", "PATCH", "/api/organizations/"+auth.DefaultOrganizationID, `{"parentId": "`+id+`"}`, 404)
	if p := ta.want("superviseur", "PATCH", "/api/organizations/"+auth.DefaultOrganizationID, `{"contactPhone": "0102"}`, 200); p["contactPhone"] != "0102" {
		t.Fatalf("own organisation patched: %v", p)
	}
	ta.want("admin", "DELETE", "/api/organizations/"+auth.DefaultOrganizationID, "", 409)
	ta.want("admin", "DELETE", "/api/organizations/"+id, "", 200)
	if m := ta.want("admin", "GET", "/api/organizations/"+id, "", 404); m["detail"] != "Organization not found" {
		t.Fatalf("404: %v", m)
	}
	ta.want("admin", "GET", "/api/organizations/12", "", 404)
}

func TestPagination(t *testing.T) {
	ta := newTestAPI(t, auth.ModeOpen)
	tests := []struct {
		query string
		n     int
	}{{"", 7}, {"?limit=2", 2}, {"?skip=3", 4}, {"?page=2&page_size=3", 3}, {"?page=3&page_size=3", 1}, {"?limit=0", 1}, {"?limit=100000", 7}}
	for _, tt := range tests {
		m := ta.want("", "GET", "/api/admin/users/"+tt.query, "", 200)
		if got := len(m["users"].([]any)); got != tt.n || m["total"] != 7.0 {
			t.Errorf("%s: %d users (total %v), want %d", tt.query, got, m["total"], tt.n)
		}
	}
	ta.want("", "GET", "/api/admin/users/?limit=abc", "", 422)
}

// TestEnforce: the admin API behind the middleware in enforce mode, and the users mirror
// fed by logins.
func TestEnforce(t *testing.T) {
	ta := newTestAPI(t, auth.ModeEnforce)
	ta.want("", "GET", "/api/admin/devices/", "", 401)
	ta.want("viewer", "GET", "/api/admin/devices/", "", 403)
	ta.want("technicien", "GET", "/api/admin/devices/", "", 200)
	ta.want("technicien", "GET", "/api/admin/users/", "", 403)
	ta.want("superviseur", "POST", "/api/organizations/", `{"name": "Nope"}`, 403)
	ta.want("qualite", "GET", "/api/admin/users/", "", 403)
	me := ta.want("analyste", "GET", "/api/users/me", "", 200)
	if me["username"] != "analyste" || me["anonymous"] != false {
		t.Fatalf("me: %v", me)
	}
	users := ta.want("admin", "GET", "/api/admin/users/?limit=100", "", 200)
	var names []string
	for _, u := range users["users"].([]any) {
		u := u.(map[string]any)
		names = append(names, u["username"].(string))
		if (u["username"] == "analyste" && u["lastLogin"] == nil) || (u["username"] == "viewer" && u["source"] != "token") {
			t.Fatalf("mirrored user: %v", u)
		}
	}
	sort.Strings(names)
	// The seeded users, updated by their logins, plus viewer (a development-only user).
	if strings.Join(names, ",") != "admin,analyste,consommateur,gaveur,qualite,superviseur,technicien,viewer" {
		t.Fatalf("users mirrored from tokens: %v", names)
	}
}

// TestOpenAPICoversRoutes: every route has an OpenAPI operation and the reverse, and
// the fragment's x-permission agrees with auth.Rules.
func TestOpenAPICoversRoutes(t *testing.T) {
	frag, err := openapi.Parse("admin-api", Fragment)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	paths := frag.Doc["paths"].(map[string]any)
	for _, op := range openapi.Operations(frag.Doc) {
		documented[op.String()] = true
		item := paths[op.Path].(map[string]any)[strings.ToLower(op.Method)].(map[string]any)
		perm, _ := item["x-permission"].(string)
		if got := ruleFor(op.Method, op.Path); got != perm {
			t.Errorf("%s: x-permission %q, auth.Rules %q", op, perm, got)
		}
	}
	registered := map[string]bool{}
	for _, r := range (&API{}).routes() {
		registered[r.Method+" "+strings.TrimSuffix(r.Pattern, "{$}")] = true
	}
	for k := range registered {
		if !documented[k] {
			t.Errorf("route without an OpenAPI operation: %s", k)
		}
	}
	for k := range documented {
		if !registered[k] {
			t.Errorf("OpenAPI operation without a route: %s", k)
		}
	}
}

func ruleFor(method, path string) string {
	norm := func(p string) string { return strings.Trim(p, "/") }
	for _, r := range auth.Rules {
		if r.Method == method && norm(r.Path) == norm(path) {
			return string(r.Permission)
		}
	}
	return ""
}
