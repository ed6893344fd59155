package ingest

import (
	"testing"

	"github.com/sqalfn/sqal/shared/openapi"
	"github.com/sqalfn/sqal/shared/openapi/openapitest"
)

// registered is ingest's mux registration table as OpenAPI operations.
func registered() []openapi.Operation {
	var ops []openapi.Operation
	for _, r := range (&Service{}).routes() {
		ops = append(ops, openapi.Operation{Method: r.Method, Path: r.Path})
	}
	return ops
}

// TestOpenAPICoversRoutes fails when a route of the mux registration table has no
// OpenAPI operation, or the fragment documents an operation ingest does not serve.
func TestOpenAPICoversRoutes(t *testing.T) { openapitest.AssertCovers(t, Fragment, registered()) }

// TestOpenAPIMerged: the product document (what /openapi.json serves) carries this
// fragment's operations.
func TestOpenAPIMerged(t *testing.T) { openapitest.AssertPublished(t, registered()) }
