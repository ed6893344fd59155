package reportsapi

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/auth"
	"github.com/sqalfn/sqal/shared/openapi"
	"github.com/sqalfn/sqal/shared/openapi/openapitest"
)

// TestOpenAPICoversRoutes fails when a route has no OpenAPI operation, the fragment
// documents an operation this function does not serve, or an operation's
// x-permission disagrees with auth.Rules (what enforce mode checks).
func TestOpenAPICoversRoutes(t *testing.T) {
	frag, err := openapi.Parse("reports-api", Fragment)
	if err != nil {
		t.Fatal(err)
	}
	paths := frag.Doc["paths"].(map[string]any)
	for _, op := range openapi.Operations(frag.Doc) {
		item := paths[op.Path].(map[string]any)[strings.ToLower(op.Method)].(map[string]any)
		perm, _ := item["x-permission"].(string)
		if got := ruleFor(op.Method, op.Path); got == "" || got != perm {
			t.Errorf("%s: x-permission %q, auth.Rules %q", op, perm, got)
		}
	}
	var registered []openapi.Operation
	for _, r := range routeTable() {
		registered = append(registered, openapi.Operation{Method: r.Method, Path: r.Path})
	}
	openapitest.AssertCovers(t, Fragment, registered)
}

func ruleFor(method, path string) string {
	for _, r := range auth.Rules {
		if r.Method == method && strings.Trim(r.Path, "/") == strings.Trim(path, "/") {
			return string(r.Permission)
		}
	}
	return ""
}

// TestOpenAPIMerged: the product document carries this fragment's operations, and the
// merged copy is current.
func TestOpenAPIMerged(t *testing.T) {
	copyPath := "../../shared/openapi/fragments/reports-api.yaml"
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
