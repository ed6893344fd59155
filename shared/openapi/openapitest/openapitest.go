// Package openapitest holds the assertions every function's OpenAPI test makes: its
// fragment documents exactly the routes it registers, and the product document
// (/openapi.json) publishes them.
package openapitest

import (
	"testing"

	"github.com/sqalfn/sqal/shared/openapi"
)

// AssertCovers fails t when a registered route has no operation in fragment, or
// fragment documents an operation that is not registered.
func AssertCovers(t testing.TB, fragment []byte, registered []openapi.Operation) {
	t.Helper()
	missing, extra, err := openapi.Coverage(fragment, registered)
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

// AssertPublished fails t when the product document lacks one of ops, or publishes one
// of hidden (internal routes such as Broker deliveries).
func AssertPublished(t testing.TB, ops []openapi.Operation, hidden ...openapi.Operation) {
	t.Helper()
	b, err := openapi.Document()
	if err != nil {
		t.Fatal(err)
	}
	f, err := openapi.Parse("merged", b)
	if err != nil {
		t.Fatal(err)
	}
	published := map[openapi.Operation]bool{}
	for _, op := range openapi.Operations(f.Doc) {
		published[op] = true
	}
	for _, op := range ops {
		if !published[op] {
			t.Errorf("merged document lacks %s", op)
		}
	}
	for _, op := range hidden {
		if published[op] {
			t.Errorf("merged document publishes the internal route %s", op)
		}
	}
}
