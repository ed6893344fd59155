package reportsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/tenant"
)

// errOtherOrganization answers a write that would land outside the caller's
// organisation (403).
const errOtherOrganization = "Not allowed outside your organization"

// isRLSViolation reports the error PostgreSQL raises when a row written fails a
// row-level security policy (42501, insufficient_privilege).
func isRLSViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}

// bodyOrganization reads the optional organization_id (organizationId) of a create
// body: the organisation a super_admin creates the resource in.
func bodyOrganization(b []byte) (*string, error) {
	f, err := parseFields(b, true)
	if err != nil {
		return nil, err
	}
	v := f.str(64, "organization_id", "organizationId")
	if err := f.err(); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	org, err := tenant.Parse(*v)
	if err != nil {
		return nil, &httpapi.ValidationError{Items: []httpapi.ErrorItem{{Type: "uuid_parsing",
			Loc: []any{"body", "organization_id"}, Msg: "Input should be a valid UUID", Input: *v}}}
	}
	return &org, nil
}

// readWithOrganization is readInput for a create body that may name its organisation
// (bodyOrganization).
func readWithOrganization[T any](s *Server, w http.ResponseWriter, r *http.Request, parse func([]byte) (T, error)) (v T, org *string, ok bool) {
	v, ok = readInput(s, w, r, func(b []byte) (T, error) {
		var err error
		if org, err = bodyOrganization(b); err != nil {
			var zero T
			return zero, err
		}
		return parse(b)
	})
	return v, org, ok
}

// targetOrganization is the organisation a row created by the request belongs to:
//
//   - in one organisation's scope, that organisation; naming another one
//     (organization_id) is refused (403) rather than silently ignored;
//   - in the cross-organisation scope of a super_admin, the organization_id named (an
//     existing organisation, else 404), the default organisation when none is.
//
// The INSERTs name it explicitly, so a row never falls back on the column default.
func targetOrganization(ctx context.Context, tx pgx.Tx, requested *string) (string, error) {
	s, _ := tenant.From(ctx)
	if !s.All {
		if s.Organization == "" {
			return "", httpapi.Errorf(http.StatusForbidden, errOtherOrganization)
		}
		if requested != nil && *requested != s.Organization {
			return "", httpapi.Errorf(http.StatusForbidden,
				"Cannot act in another organization: organization_id must be yours (%s) or absent", s.Organization)
		}
		return s.Organization, nil
	}
	org := tenant.DefaultOrganization
	if requested != nil {
		org = *requested
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)`, org).Scan(&exists); err != nil {
		return "", fmt.Errorf("find organisation %s: %w", org, err)
	}
	if !exists {
		return "", notFound("Organization")
	}
	return org, nil
}
