package analysisapi

import (
	"bytes"
	"os"
	"testing"

	"github.com/sqalfn/sqal/shared/openapi"
	"github.com/sqalfn/sqal/shared/openapi/openapitest"
)

// TestOpenAPICoversRoutes fails when a route has no OpenAPI operation or the fragment
// documents an operation this function does not serve.
func TestOpenAPICoversRoutes(t *testing.T) {
	var registered []openapi.Operation
	for _, r := range routeTable() {
		registered = append(registered, openapi.Operation{Method: r.Method, Path: r.Path})
	}
	openapitest.AssertCovers(t, Fragment, registered)
}

// TestOpenAPIMerged: the product document (what /openapi.json serves) carries this
// fragment's operations, and the merged copy is current.
func TestOpenAPIMerged(t *testing.T) {
	copyPath := "../../shared/openapi/fragments/analysis-api.yaml"
	if b, err := os.ReadFile(copyPath); err == nil && !bytes.Equal(b, Fragment) {
		t.Errorf("%s is stale: copy openapi.yaml over it", copyPath)
	}
	frags, err := openapi.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi.Merge("test", "0", frags...)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]bool{}
	for _, op := range openapi.Operations(doc) {
		ops[op.String()] = true
	}
	for _, r := range routeTable() {
		if !ops[r.Method+" "+r.Path] {
			t.Errorf("merged document lacks %s %s", r.Method, r.Path)
		}
	}
}
