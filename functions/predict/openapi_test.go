package predict

import (
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/openapi"
	"github.com/sqalfn/sqal/shared/openapi/openapitest"
)

// internalRoutes are registered but deliberately absent from the public OpenAPI
// document: POST / is where the Knative Broker delivers CloudEvents (sqal.sample.stored,
// model events) to the service itself. The gateway's route table (shared/routes) sends
// only /v2/ to predict, so no client outside the cluster can reach it; publishing it in
// /openapi.json would document an operation the product's one origin does not serve.
var internalRoutes = map[openapi.Operation]bool{
	{Method: "POST", Path: "/"}: true,
}

// aliasRoutes are served spellings of a documented operation (same handler, same
// answers), documented once under the operation they map to: the slash-terminated
// server metadata path, and the Open Inference Protocol's versioned model paths (the
// version must be the one served, else 404, as the unversioned operations' 404 says).
var aliasRoutes = map[openapi.Operation]openapi.Operation{
	{Method: "GET", Path: "/v2/"}:                                        {Method: "GET", Path: "/v2"},
	{Method: "GET", Path: "/v2/models/{name}/versions/{version}"}:        {Method: "GET", Path: "/v2/models/{name}"},
	{Method: "GET", Path: "/v2/models/{name}/versions/{version}/ready"}:  {Method: "GET", Path: "/v2/models/{name}/ready"},
	{Method: "POST", Path: "/v2/models/{name}/versions/{version}/infer"}: {Method: "POST", Path: "/v2/models/{name}/infer"},
}

// publicOperations are the routes of the mux registration table as OpenAPI paths
// ("/v2/{$}" is the exact path "/v2/"), without the internal routes and with every
// alias replaced by the operation it spells.
func publicOperations(t *testing.T) []openapi.Operation {
	t.Helper()
	var ops []openapi.Operation
	internal, aliases := 0, 0
	for _, r := range (&Server{}).routes() {
		op := openapi.Operation{Method: r.Method, Path: strings.TrimSuffix(r.Path, "{$}")}
		if internalRoutes[op] {
			internal++
			continue
		}
		if to, ok := aliasRoutes[op]; ok {
			aliases++
			op = to
		}
		ops = append(ops, op)
	}
	if internal != len(internalRoutes) || aliases != len(aliasRoutes) {
		t.Fatalf("internalRoutes and aliasRoutes list %d and %d routes, the route table has %d and %d of them",
			len(internalRoutes), len(aliasRoutes), internal, aliases)
	}
	return ops
}

// TestOpenAPICoversRoutes fails when a public route of the mux registration table has no
// OpenAPI operation, or the fragment documents an operation predict does not serve.
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
