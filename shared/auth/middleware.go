package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/tenant"
)

// Option configures the middleware.
type Option func(*Authenticator)

// WithDB mirrors every identified caller into the users table and records a login in
// the audit trail for each new session (once per token per instance; nil: neither).
func WithDB(db *database.DB) Option {
	return func(a *Authenticator) {
		if db != nil {
			a.logins = newLoginRecorder(db, a.logger)
		}
	}
}

// Authenticator is the authentication and authorisation middleware.
type Authenticator struct {
	cfg       Config
	validator *Validator
	logger    *slog.Logger
	logins    *loginRecorder
}

// New builds the Authenticator of cfg. Keys are fetched at the first token, not here:
// a function must start while Keycloak is still coming up.
func New(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	a := &Authenticator{cfg: cfg, validator: NewValidator(cfg), logger: logger}
	if cfg.DevIssuer {
		dev, err := SharedDevIssuer(cfg)
		if err != nil {
			return nil, err
		}
		a.validator.TrustIssuer(dev.Issuer(), dev.PublicKeys())
		logger.WarnContext(ctx, "development token issuer trusted: never enable it in a real deployment",
			"issuer", dev.Issuer(), "auth_mode", cfg.Mode)
	}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// NewMiddleware returns the authentication/authorisation middleware for HTTP functions.
func NewMiddleware(ctx context.Context, cfg Config, logger *slog.Logger, opts ...Option) (func(http.Handler) http.Handler, error) {
	a, err := New(ctx, cfg, logger, opts...)
	if err != nil {
		return nil, err
	}
	return a.Middleware, nil
}

// Middleware wraps next.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rule, known := matchRule(r.Method, r.URL.Path)
		if known && (rule.Permission == DeviceKey || rule.Permission == Internal) {
			next.ServeHTTP(w, r) // authenticated by the handler (device key) or the network
			return
		}
		id, err := a.identify(r)
		if id != nil && a.logins != nil {
			a.logins.seen(r, id) // a login, whatever the route then allows
		}
		if !a.cfg.Enforced() {
			if err != nil {
				// Open mode: legacy clients send stale or fake tokens
				// (?token=dev-token-bypass-auth on /ws/realtime/); they stay anonymous.
				a.logger.DebugContext(r.Context(), "token ignored in open mode", "error", err)
			}
			if id == nil {
				id = anonymous()
			}
			a.serve(w, r, next, id)
			return
		}
		switch {
		case known && rule.Permission == Public:
			if id == nil {
				id = &Identity{Anonymous: true, Username: "anonymous"}
			}
			a.serve(w, r, next, id)
		case err != nil:
			a.unauthorized(w, r, `error="invalid_token", error_description="the access token is invalid"`, err)
		case id == nil:
			a.unauthorized(w, r, "", errors.New("no bearer token"))
		case !known:
			httpapi.Detail(w, http.StatusForbidden, "No permission is defined for this route")
		case rule.Permission == Authenticated || id.Can(rule.Permission):
			a.serve(w, r, next, id)
		default:
			httpapi.Detail(w, http.StatusForbidden, fmt.Sprintf("Permission '%s' required", rule.Permission))
		}
	})
}

func (a *Authenticator) serve(w http.ResponseWriter, r *http.Request, next http.Handler, id *Identity) {
	ctx := tenant.With(WithIdentity(r.Context(), id), id.Scope())
	if !id.Anonymous {
		ctx = audit.WithActor(ctx, audit.Actor{ID: id.Subject, Name: id.DisplayName(), OrganizationID: firstOrg(id)})
	}
	next.ServeHTTP(w, r.WithContext(ctx))
}

// identify returns the caller of a token-bearing request, nil without a token.
func (a *Authenticator) identify(r *http.Request) (*Identity, error) {
	raw := bearer(r)
	if raw == "" {
		return nil, nil
	}
	return a.validator.Validate(r.Context(), raw)
}

// bearer reads the token: the Authorization header, or on a WebSocket upgrade (browsers
// cannot set headers there) the access_token or token query parameter.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		q := r.URL.Query()
		if t := q.Get("access_token"); t != "" {
			return t
		}
		return q.Get("token")
	}
	return ""
}

// unauthorized answers 401 in the contract's shape (backend-new §3.4) with the RFC 6750
// challenge.
func (a *Authenticator) unauthorized(w http.ResponseWriter, r *http.Request, params string, err error) {
	a.logger.DebugContext(r.Context(), "request refused", "path", r.URL.Path, "error", err)
	challenge := fmt.Sprintf(`Bearer realm=%q`, a.cfg.Realm)
	if params != "" {
		challenge += ", " + params
	}
	w.Header().Set("WWW-Authenticate", challenge)
	httpapi.Detail(w, http.StatusUnauthorized, "Could not validate credentials")
}
