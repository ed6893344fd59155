package auth

import (
	"context"
	"slices"
	"time"

	"github.com/sqalfn/sqal/shared/tenant"
)

// Identity is the caller of a request, read from a verified token (or the anonymous
// caller of open mode).
type Identity struct {
	Subject    string // sub: Keycloak's user id
	Username   string // preferred_username
	Email      string
	Name       string
	GivenName  string
	FamilyName string
	// Roles are the realm roles (realm_access.roles).
	Roles []string
	// ClientRoles are resource_access.<client>.roles, by client id.
	ClientRoles map[string][]string
	// Organizations are the organisation ids of the organization_id /
	// organization_ids claims (empty: the caller's organisation is the default one).
	Organizations []string
	SessionID     string    // sid (a new session = a login)
	IssuedAt      time.Time // iat
	Issuer        string
	Anonymous     bool

	perms map[Permission]bool
}

// Can reports whether the identity holds permission p.
func (id *Identity) Can(p Permission) bool {
	if id == nil {
		return false
	}
	return id.perms[p] || id.perms[All]
}

// Permissions lists the identity's permissions, sorted.
func (id *Identity) Permissions() []Permission {
	var out []Permission
	for p, ok := range id.perms {
		if ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// HasRole reports a realm role.
func (id *Identity) HasRole(role string) bool { return id != nil && slices.Contains(id.Roles, role) }

// Scope is the organisation scope the identity's requests act in (row-level security,
// migration 00060): every organisation for super_admin; otherwise the first organisation
// its token names, the default organisation when it names none (and for the anonymous
// caller of open mode). An organisation claim that is not a uuid gives an empty scope,
// which sees nothing.
func (id *Identity) Scope() tenant.Scope {
	if id.HasRole("super_admin") {
		return tenant.All()
	}
	if id == nil || len(id.Organizations) == 0 {
		return tenant.Org(tenant.DefaultOrganization)
	}
	org, err := tenant.Parse(id.Organizations[0])
	if err != nil {
		return tenant.Scope{}
	}
	return tenant.Org(org)
}

// DisplayName is what the audit trail records as the user name.
func (id *Identity) DisplayName() string {
	switch {
	case id == nil || id.Anonymous:
		return "anonymous"
	case id.Username != "":
		return id.Username
	case id.Email != "":
		return id.Email
	}
	return id.Subject
}

// anonymous is the caller of open mode: full access, as the legacy clients expect.
func anonymous() *Identity {
	return &Identity{Anonymous: true, Username: "anonymous", perms: map[Permission]bool{All: true}}
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity the middleware stored (nil outside it).
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}
