package realtime

import (
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/openapi"
	"github.com/sqalfn/sqal/shared/openapi/openapitest"
)

// internalRoutes are registered but deliberately absent from the public OpenAPI
// document: POST /events (and /events/) is where the Knative Broker delivers CloudEvents
// (Triggers in knative/triggers). The gateway's route table (shared/routes) has no /events
// prefix, so no client outside the cluster can reach it; publishing it in /openapi.json
// would document an operation the product's one origin does not serve.
var internalRoutes = map[openapi.Operation]bool{
	{Method: "POST", Path: "/events"}:  true,
	{Method: "POST", Path: "/events/"}: true,
}

// publicOperations are the routes of the mux registration table, as OpenAPI paths
// ("/ws/realtime/{$}" is the exact path "/ws/realtime/"), without the internal ones.
func publicOperations(t *testing.T) []openapi.Operation {
	t.Helper()
	var ops []openapi.Operation
	excluded := 0
	for _, r := range (&Server{}).routes() {
		op := openapi.Operation{Method: r.Method, Path: strings.TrimSuffix(r.Path, "{$}")}
		if internalRoutes[op] {
			excluded++
			continue
		}
		ops = append(ops, op)
	}
	if excluded != len(internalRoutes) {
		t.Fatalf("internalRoutes lists %d routes, the route table has %d of them", len(internalRoutes), excluded)
	}
	return ops
}

// TestOpenAPICoversRoutes fails when a public route of the mux registration table has no
// OpenAPI operation, or the fragment documents an operation realtime does not serve.
func TestOpenAPICoversRoutes(t *testing.T) {
	openapitest.AssertCovers(t, Fragment, publicOperations(t))
}

// TestOpenAPIMerged: the product document (what /openapi.json serves) carries this
// fragment's operations and none of the internal routes.
func TestOpenAPIMerged(t *testing.T) {
	var hidden []openapi.Operation
	for op := range internalRoutes {
		hidden = append(hidden, op)
	}
	openapitest.AssertPublished(t, publicOperations(t), hidden...)
}
