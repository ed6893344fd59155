package events

import (
	"context"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/sqalfn/sqal/shared/tenant"
)

// WithOrganization records the organisation scope of ctx on e (the organizationid
// extension), unless e already names one: consumers act for the organisation of the
// data the event describes. Cross-organisation work (tenant.All) records nothing; its
// events name their organisation themselves when they describe one organisation's data.
func WithOrganization(ctx context.Context, e *cloudevents.Event) {
	if _, ok := e.Extensions()[tenant.EventExtension]; ok {
		return
	}
	if s, ok := tenant.From(ctx); ok && !s.All {
		e.SetExtension(tenant.EventExtension, s.Organization)
	}
}

// OrganizationScope is the scope a consumer of e acts in: the organisation of its
// organizationid extension, the default organisation for events without one (events
// from before organisations, or from outside the product). A malformed value is an
// error: the event is refused rather than processed in the wrong organisation.
func OrganizationScope(e cloudevents.Event) (tenant.Scope, error) {
	v, ok := e.Extensions()[tenant.EventExtension]
	if !ok {
		return tenant.Org(tenant.DefaultOrganization), nil
	}
	s, ok := v.(string)
	if !ok {
		return tenant.Scope{}, fmt.Errorf("event %s: extension %s is not a string", e.ID(), tenant.EventExtension)
	}
	org, err := tenant.Parse(s)
	if err != nil {
		return tenant.Scope{}, fmt.Errorf("event %s: extension %s: %w", e.ID(), tenant.EventExtension, err)
	}
	return tenant.Org(org), nil
}
