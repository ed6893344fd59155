package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sqalfn/sqal/shared/auth"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/tenant"
)

// KeycloakConfig enables the users sync from Keycloak's admin API (backend-new §2.9:
// identities live in Keycloak, the users table is a mirror). Without a client id the
// mirror is fed by logins only. The client needs a service account with
// realm-management's view-users role (the realm import gives it to backend-api).
type KeycloakConfig struct {
	URL          string        `env:"KEYCLOAK_URL, default=http://localhost:8080"`
	Realm        string        `env:"KEYCLOAK_REALM, default=sqal_realm"`
	ClientID     string        `env:"KEYCLOAK_ADMIN_CLIENT_ID"`
	ClientSecret string        `env:"KEYCLOAK_ADMIN_CLIENT_SECRET"` // never logged
	SyncInterval time.Duration `env:"KEYCLOAK_USER_SYNC_INTERVAL, default=5m"`
	// MaxUsers bounds one sync (one role lookup per user).
	MaxUsers int `env:"KEYCLOAK_USER_SYNC_MAX, default=200"`
}

// Enabled reports whether the admin API is configured.
func (c KeycloakConfig) Enabled() bool { return c.ClientID != "" && c.ClientSecret != "" }

// keycloakSync mirrors Keycloak's users into the users table, at most once per
// interval, when the users page is read.
type keycloakSync struct {
	cfg    KeycloakConfig
	db     *database.DB
	client *http.Client
	mu     sync.Mutex
	last   time.Time
}

func newKeycloakSync(cfg KeycloakConfig, db *database.DB) *keycloakSync {
	if !cfg.Enabled() {
		return nil
	}
	if cfg.MaxUsers <= 0 {
		cfg.MaxUsers = 200
	}
	return &keycloakSync{cfg: cfg, db: db, client: &http.Client{Timeout: 5 * time.Second}}
}

// maybeSync syncs when the last sync is older than the interval. Concurrent readers
// do not wait for each other's sync: one syncs, the others read the mirror as it is.
func (k *keycloakSync) maybeSync(ctx context.Context) error {
	if k == nil || !k.mu.TryLock() {
		return nil
	}
	defer k.mu.Unlock()
	if time.Since(k.last) < k.cfg.SyncInterval {
		return nil
	}
	k.last = time.Now() // also after a failure: do not hammer a Keycloak that is down
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The realm's users belong to every organisation and a username is unique across
	// them: the mirror is upserted in the cross-organisation scope whoever reads the page
	// (new users join the default organisation, existing ones keep theirs). Nothing read
	// here reaches the caller: the page then lists the users of the caller's scope.
	return k.sync(tenant.With(ctx, tenant.All()))
}

type kcUser struct {
	ID               string `json:"id"`
	Username         string `json:"username"`
	Email            string `json:"email"`
	FirstName        string `json:"firstName"`
	LastName         string `json:"lastName"`
	Enabled          bool   `json:"enabled"`
	CreatedTimestamp int64  `json:"createdTimestamp"`
}

func (k *keycloakSync) sync(ctx context.Context) error {
	base := strings.TrimRight(k.cfg.URL, "/")
	tok, err := k.token(ctx, base)
	if err != nil {
		return err
	}
	var users []kcUser
	if err := k.get(ctx, tok, fmt.Sprintf("%s/admin/realms/%s/users?max=%d", base, url.PathEscape(k.cfg.Realm), k.cfg.MaxUsers), &users); err != nil {
		return err
	}
	for _, u := range users {
		if strings.HasPrefix(u.Username, "service-account-") {
			continue
		}
		var roles []struct {
			Name string `json:"name"`
		}
		if err := k.get(ctx, tok, fmt.Sprintf("%s/admin/realms/%s/users/%s/role-mappings/realm/composite", base,
			url.PathEscape(k.cfg.Realm), url.PathEscape(u.ID)), &roles); err != nil {
			return err
		}
		names := make([]string, 0, len(roles))
		for _, r := range roles {
			if _, known := auth.RolePermissions[r.Name]; known { // skip default-roles-*, offline_access...
				names = append(names, r.Name)
			}
		}
		joined := time.Now()
		if u.CreatedTimestamp > 0 {
			joined = time.UnixMilli(u.CreatedTimestamp)
		}
		_, err := k.db.Exec(ctx, `INSERT INTO users AS x (username, email, first_name, last_name, is_active, is_staff, roles,
			organization_id, source, date_joined)
			VALUES ($1, NULLIF($2,''), NULLIF($3,''), NULLIF($4,''), $5, $6, $7, $8, 'keycloak', $9)
			ON CONFLICT (username) DO UPDATE SET email = EXCLUDED.email, first_name = EXCLUDED.first_name,
				last_name = EXCLUDED.last_name, is_active = EXCLUDED.is_active, is_staff = EXCLUDED.is_staff,
				roles = EXCLUDED.roles, source = 'keycloak', updated_at = now()`,
			u.Username, u.Email, u.FirstName, u.LastName, u.Enabled, auth.IsStaff(names), names,
			auth.DefaultOrganizationID, joined)
		if err != nil {
			return fmt.Errorf("mirror keycloak user %s: %w", u.Username, err)
		}
	}
	return nil
}

// token obtains a service-account token (client credentials grant).
func (k *keycloakSync) token(ctx context.Context, base string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.cfg.ClientID}, "client_secret": {k.cfg.ClientSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		base+"/realms/"+url.PathEscape(k.cfg.Realm)+"/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := k.do(req, &out); err != nil {
		return "", fmt.Errorf("keycloak service-account token: %w", err)
	}
	return out.AccessToken, nil
}

func (k *keycloakSync) get(ctx context.Context, tok, u string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if err := k.do(req, dst); err != nil {
		return fmt.Errorf("keycloak admin API: %w", err)
	}
	return nil
}

func (k *keycloakSync) do(req *http.Request, dst any) error {
	resp, err := k.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(dst)
}
