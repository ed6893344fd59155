package ingest

import (
	"testing"

	"github.com/sqalfn/sqal/shared/openapi"
)

// TestOpenAPICoversRoutes fails when a route of the mux registration table has no
// OpenAPI operation, or the fragment documents an operation ingest does not serve.
func TestOpenAPICoversRoutes(t *testing.T) {
	var registered []openapi.Operation
	for _, r := range (&Service{}).routes() {
		registered = append(registered, openapi.Operation{Method: r.Method, Path: r.Path})
	}
	missing, extra, err := openapi.Coverage(Fragment, registered)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("routes without an OpenAPI operation: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("OpenAPI operations without a route: %v", extra)
	}
}

// TestOpenAPIMerged: the product document (what /openapi.json serves) carries this
// fragment's operations.
func TestOpenAPIMerged(t *testing.T) {
	b, err := openapi.Document()
	if err != nil {
		t.Fatal(err)
	}
	f, err := openapi.Parse("merged", b)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[openapi.Operation]bool{}
	for _, op := range openapi.Operations(f.Doc) {
		ops[op] = true
	}
	for _, r := range (&Service{}).routes() {
		if !ops[openapi.Operation{Method: r.Method, Path: r.Path}] {
			t.Errorf("merged document lacks %s %s", r.Method, r.Path)
		}
	}
}
