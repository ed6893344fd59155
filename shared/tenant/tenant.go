// Package tenant carries the organisation a unit of work acts for, from where it is
// known (a verified token, a device's registration, an event's extension) to where the
// database enforces it (shared/database sets it on every transaction; PostgreSQL's
// row-level security policies read it, migration 00060).
//
// A context without a scope is not "everything": the database shows it nothing. Work
// that legitimately spans organisations (training on every sample, retention, the
// super_admin role, resolving which organisation a device belongs to) says so with All.
package tenant

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// DefaultOrganization is the organisation seeded for the demo (migration 00030). The
// open auth mode and devices registered without one act for it.
const DefaultOrganization = "00000000-0000-4000-8000-000000000001"

// EventExtension is the CloudEvents extension attribute that carries the organisation
// of the data an event describes ("organizationid": extension names are lower-case
// alphanumerics only).
const EventExtension = "organizationid"

// Scope is what one unit of work may see: one organisation, or all of them.
type Scope struct {
	Organization string // a uuid; empty with All
	All          bool
}

// Org is the scope of one organisation.
func Org(id string) Scope { return Scope{Organization: id} }

// All is the cross-organisation scope of system work and of super administrators.
func All() Scope { return Scope{All: true} }

// Valid reports whether s names something the database can enforce.
func (s Scope) Valid() bool { return s.All || s.Organization != "" }

// Key is a short stable form for cache keys and logs: "all", the organisation id, or
// "none".
func (s Scope) Key() string {
	switch {
	case s.All:
		return "all"
	case s.Organization != "":
		return s.Organization
	}
	return "none"
}

type ctxKey struct{}

// With returns ctx carrying s.
func With(ctx context.Context, s Scope) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// From returns the scope of ctx; ok is false when none was set.
func From(ctx context.Context) (Scope, bool) {
	s, ok := ctx.Value(ctxKey{}).(Scope)
	return s, ok && s.Valid()
}

// ErrInvalidOrganization is returned by Parse for a value that is not a uuid.
var ErrInvalidOrganization = errors.New("organisation id is not a uuid")

// Parse validates an organisation id from outside (a token claim, an event attribute)
// and returns it in canonical form, so it can be compared and used as a cache key.
func Parse(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", fmt.Errorf("%w: %q", ErrInvalidOrganization, id)
	}
	return u.String(), nil
}
