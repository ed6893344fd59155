package adminapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/testenv"
)

// fakeKeycloak serves the token endpoint and the two admin API reads the sync uses.
func fakeKeycloak(t *testing.T, calls *atomic.Int64) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /realms/sqal_realm/protocol/openid-connect/token", func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("client_secret") != "s3cret" || r.FormValue("grant_type") != "client_credentials" {
			w.WriteHeader(401)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": "svc"})
	})
	mux.HandleFunc("GET /admin/realms/sqal_realm/users", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer svc" {
			w.WriteHeader(401)
			return
		}
		_ = json.NewEncoder(w).Encode([]map[string]any{
			{"id": "k1", "username": "kc-only", "email": "kc@x", "firstName": "K", "enabled": true, "createdTimestamp": 1700000000000},
			{"id": "k2", "username": "analyste", "email": "analyste@kc", "enabled": false},
			{"id": "k3", "username": "service-account-backend-api", "enabled": true},
		})
	})
	mux.HandleFunc("GET /admin/realms/sqal_realm/users/{id}/role-mappings/realm/composite", func(w http.ResponseWriter, r *http.Request) {
		roles := map[string][]string{"k1": {"org_admin", "viewer", "default-roles-sqal_realm"}, "k2": {"data_analyst", "viewer"}}[r.PathValue("id")]
		out := []map[string]string{}
		for _, n := range roles {
			out = append(out, map[string]string{"name": n})
		}
		_ = json.NewEncoder(w).Encode(out)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestKeycloakUsersSync(t *testing.T) {
	var calls atomic.Int64
	kc := fakeKeycloak(t, &calls)
	db := database.NewDB(testenv.DB(t))
	h, err := New(db, Options{Now: func() time.Time { return now }, Keycloak: KeycloakConfig{URL: kc.URL, Realm: "sqal_realm",
		ClientID: "backend-api", ClientSecret: "s3cret", SyncInterval: time.Hour, MaxUsers: 10}})
	if err != nil {
		t.Fatal(err)
	}
	get := func() map[string]map[string]any {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/admin/users/?limit=100", nil))
		var m struct{ Users []map[string]any }
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
			t.Fatalf("list: %d %s", rec.Code, rec.Body)
		}
		out := map[string]map[string]any{}
		for _, u := range m.Users {
			out[u["username"].(string)] = u
		}
		return out
	}
	users := get()
	kcOnly, ok := users["kc-only"]
	if !ok || kcOnly["isStaff"] != true || kcOnly["source"] != "keycloak" || len(kcOnly["roles"].([]any)) != 2 {
		t.Fatalf("keycloak user not mirrored: %v", kcOnly)
	}
	if a := users["analyste"]; a["isActive"] != false || a["email"] != "analyste@kc" {
		t.Fatalf("existing user not updated from keycloak: %v", a)
	}
	if _, ok := users["service-account-backend-api"]; ok {
		t.Fatal("service account mirrored")
	}
	get()
	if calls.Load() != 1 {
		t.Fatalf("keycloak read %d times within the sync interval", calls.Load())
	}
}

func TestKeycloakDownServesMirror(t *testing.T) {
	db := database.NewDB(testenv.DB(t))
	h, err := New(db, Options{Keycloak: KeycloakConfig{URL: "http://127.0.0.1:1", Realm: "sqal_realm", ClientID: "c",
		ClientSecret: "s", SyncInterval: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/admin/users/", nil))
	if rec.Code != 200 {
		t.Fatalf("users page failed with keycloak down: %d %s", rec.Code, rec.Body)
	}
}
