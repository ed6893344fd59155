// Package adminapi is the administration API of the SQAL dashboard (backend-new §1.2
// M1–M4, §2.7–§2.12): the device registry with its credentials, calibrations, users
// (a mirror of Keycloak identities fed by logins, plus local users), the audit trail
// and its verification, settings, and organisations. Every change is audited
// (shared/audit). Both trailing-slash spellings of every path are served, no redirect
// (backend-new §0.3).
//
// Organisations (migration 00060, shared/auth README "Organisations and row-level
// security"): every query runs with the scope the auth middleware put in the request
// context, so the database shows a caller only its organisation's devices, credentials,
// calibrations, users, audit rows and organisation (a super_admin: all of them). Another
// organisation's resource is "not found"; settings are global.
package adminapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/runtime"
)

// Function is admin-api's declaration for the runtime and functions-framework.
var Function = runtime.Function{
	Target:  "AdminAPI",
	Service: "admin-api",
	Needs:   runtime.Needs{DB: true},
	HTTP:    setup,
}

func init() { runtime.Register(Function) }

// onlineWindow: a device is online when seen within it (heartbeat every 30 s, samples
// every 20–45 s; backend-new §2.7).
const onlineWindow = 90 * time.Second

// API holds the dependencies of the handlers.
type API struct {
	db       *database.DB // every statement in the scope of its context
	log      *slog.Logger
	now      func() time.Time
	keycloak *keycloakSync // nil: users mirrored from logins only
}

// Options configure New.
type Options struct {
	Logger   *slog.Logger
	Now      func() time.Time
	Keycloak KeycloakConfig
}

// Config of admin-api.
type Config struct {
	Keycloak KeycloakConfig
}

func setup(ctx context.Context, env *runtime.Env) (http.Handler, error) {
	var cfg Config
	if err := config.Load(ctx, env.Lookup, &cfg); err != nil {
		return nil, fmt.Errorf("admin-api config: %w", err)
	}
	if cfg.Keycloak.Enabled() {
		env.Logger.Info("users mirrored from the Keycloak admin API", "realm", cfg.Keycloak.Realm,
			"client_id", cfg.Keycloak.ClientID, "interval", cfg.Keycloak.SyncInterval.String())
	}
	return New(env.DB, Options{Logger: env.Logger, Keycloak: cfg.Keycloak})
}

// New builds the admin-api handler. Handlers query db in the organisation scope of the
// request (tenant.From; the auth middleware sets it): serve them behind it.
func New(db *database.DB, o Options) (http.Handler, error) {
	if db == nil {
		return nil, errors.New("admin-api: database pool required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &API{db: db, log: o.Logger, now: o.Now, keycloak: newKeycloakSync(o.Keycloak, db)}
	rt := httpapi.NewRouter()
	rt.Slash = httpapi.SlashServe
	for _, r := range a.routes() {
		rt.Handle(r.Method+" "+r.Pattern, r.Handler)
		// ServeMux answers a list path without its slash with a redirect; the
		// contract wants both spellings served (backend-new §0.3).
		if base, ok := strings.CutSuffix(r.Pattern, "/{$}"); ok {
			rt.Handle(r.Method+" "+base, r.Handler)
		}
	}
	return rt, nil
}

// route is one endpoint: the single source of the mux and of the OpenAPI coverage test.
type route struct {
	Method  string
	Pattern string // ServeMux pattern; lists end in /{$}
	Handler http.HandlerFunc
}

func (a *API) routes() []route {
	return []route{
		{"GET", "/api/admin/devices/{$}", a.listDevices},
		{"GET", "/api/admin/devices/{device_id}", a.getDevice},
		{"PATCH", "/api/admin/devices/{device_id}", a.patchDevice},
		{"DELETE", "/api/admin/devices/{device_id}", a.deleteDevice},
		{"GET", "/api/admin/devices/{device_id}/keys/{$}", a.listKeys},
		{"POST", "/api/admin/devices/{device_id}/keys/{$}", a.issueKey},
		{"DELETE", "/api/admin/devices/{device_id}/keys/{key_id}", a.revokeKey},
		{"GET", "/api/admin/calibration/{$}", a.listCalibrations},
		{"POST", "/api/admin/calibration/start/{$}", a.startCalibration},
		{"GET", "/api/admin/users/{$}", a.listUsers},
		{"POST", "/api/admin/users/{$}", a.createUser},
		{"GET", "/api/admin/users/{user_id}", a.getUser},
		{"PATCH", "/api/admin/users/{user_id}", a.patchUser},
		{"DELETE", "/api/admin/users/{user_id}", a.deleteUser},
		{"GET", "/api/admin/audit/{$}", a.listAudit},
		{"GET", "/api/admin/audit/verify", a.verifyAudit},
		{"GET", "/api/admin/settings/{$}", a.getSettings},
		{"PATCH", "/api/admin/settings/{$}", a.patchSettings},
		{"GET", "/api/organizations/{$}", a.listOrganizations},
		{"POST", "/api/organizations/{$}", a.createOrganization},
		{"GET", "/api/organizations/{org_id}", a.getOrganization},
		{"PATCH", "/api/organizations/{org_id}", a.patchOrganization},
		{"DELETE", "/api/organizations/{org_id}", a.deleteOrganization},
		{"GET", "/api/users/me", a.me},
		{"GET", "/api/users/{$}", a.listUsers},
		{"GET", "/api/users/{user_id}", a.getUser},
	}
}

// fail answers err: status errors and validation errors as they are, anything else 500.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se *httpapi.StatusError
	var ve *httpapi.ValidationError
	if errors.As(err, &se) || errors.As(err, &ve) {
		httpapi.Fail(w, r, err)
		return
	}
	if isRLSViolation(err) {
		// A write the row-level security policy refused: a row of another organisation.
		a.log.WarnContext(r.Context(), "admin-api write outside the caller's organisation refused", "path", r.URL.Path, "error", err)
		httpapi.Detail(w, http.StatusForbidden, errOtherOrganization)
		return
	}
	a.log.ErrorContext(r.Context(), "admin-api request failed", "path", r.URL.Path, "error", err)
	httpapi.Detail(w, http.StatusInternalServerError, "Internal Server Error")
}

// record appends an audit row; a failure is logged, not answered (the change is done).
// Changes that must not happen unaudited use recordTx inside their transaction.
func (a *API) record(r *http.Request, e audit.Entry) {
	if err := audit.Record(r.Context(), a.db, e); err != nil {
		a.log.ErrorContext(r.Context(), "audit record failed", "action", e.Action, "resource", e.ResourceType, "error", err)
	}
}

// page reads skip/limit (bn) or page/page_size (recommended, 1-based); limit is
// clamped to 1..500 (backend-new §2.0).
func page(r *http.Request) (limit, offset int, err error) {
	q := r.URL.Query()
	limit, offset = 50, 0
	atoi := func(name string, min int) (int, bool, error) {
		s := q.Get(name)
		if s == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, false, &httpapi.ValidationError{Items: []httpapi.ErrorItem{httpapi.IntParsing(s, "query", name)}}
		}
		if n < min {
			n = min
		}
		return n, true, nil
	}
	if n, ok, err := atoi("limit", 1); err != nil {
		return 0, 0, err
	} else if ok {
		limit = n
	}
	if n, ok, err := atoi("page_size", 1); err != nil {
		return 0, 0, err
	} else if ok {
		limit = n
	}
	limit = min(limit, 500)
	if n, ok, err := atoi("skip", 0); err != nil {
		return 0, 0, err
	} else if ok {
		offset = n
	}
	if n, ok, err := atoi("page", 1); err != nil {
		return 0, 0, err
	} else if ok {
		offset = (n - 1) * limit
	}
	return limit, offset, nil
}

// notFound is the contract's 404 text for a resource.
func notFound(what string) error { return httpapi.Errorf(http.StatusNotFound, "%s not found", what) }
