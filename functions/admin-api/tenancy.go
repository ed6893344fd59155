package adminapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/tenant"
)

// errOtherOrganization answers a write that would land outside the caller's
// organisation (403): the row-level security policy refused it, or a handler did first.
const errOtherOrganization = "Not allowed outside your organization"

// isRLSViolation reports the error PostgreSQL raises when a row written fails a
// row-level security policy (new row violates row-level security policy: 42501,
// insufficient_privilege).
func isRLSViolation(err error) bool { return pgCode(err) == "42501" }

// scopeOf is the organisation scope of the request (the auth middleware sets it).
func scopeOf(ctx context.Context) tenant.Scope {
	s, _ := tenant.From(ctx)
	return s
}

// targetOrganization is the organisation a row created (or moved) by the request
// belongs to:
//
//   - in one organisation's scope, that organisation; asking for another one
//     (organization_id in the body) is refused (403) rather than silently ignored;
//   - in the cross-organisation scope of a super_admin, the organization_id of the body
//     (an existing organisation, else 404), the default organisation when absent.
//
// requested is the body's value (nil: absent). q must see organizations in the
// request's scope (the API's DB or a transaction begun on it).
func targetOrganization(ctx context.Context, q rowQuerier, requested *string) (string, error) {
	s := scopeOf(ctx)
	want := ""
	if requested != nil {
		org, err := tenant.Parse(*requested)
		if err != nil {
			return "", typeError("organization_id", "organisation id (uuid)", *requested)
		}
		want = org
	}
	if !s.All {
		if s.Organization == "" {
			return "", httpapi.Errorf(http.StatusForbidden, errOtherOrganization)
		}
		if want != "" && want != s.Organization {
			return "", httpapi.Errorf(http.StatusForbidden,
				"Cannot act in another organization: organization_id must be yours (%s) or absent", s.Organization)
		}
		return s.Organization, nil
	}
	if want == "" {
		want = tenant.DefaultOrganization
	}
	var exists bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)`, want).Scan(&exists); err != nil {
		return "", fmt.Errorf("find organisation %s: %w", want, err)
	}
	if !exists {
		return "", notFound("Organization")
	}
	return want, nil
}

// requireAllOrganizations refuses what only the cross-organisation scope may do
// (creating and deleting organisations: the super_admin role).
func requireAllOrganizations(ctx context.Context, what string) error {
	if scopeOf(ctx).All {
		return nil
	}
	return httpapi.Errorf(http.StatusForbidden, "%s requires the super_admin role (all organizations)", what)
}
