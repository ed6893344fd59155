package sqalapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/openapi"
)

// TestOpenAPICoversRoutes fails when a route of the mux registration table has no
// OpenAPI operation, or the fragment documents an operation sqal-api does not serve
// (operations marked x-served-by: runtime are served by the shared runtime instead).
func TestOpenAPICoversRoutes(t *testing.T) {
	var registered []openapi.Operation
	for _, r := range (&API{}).routes() {
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

// TestOpenAPIServed: /openapi.json is the merged document (it contains this fragment's
// operations) and /docs is the page that renders it.
func TestOpenAPIServed(t *testing.T) {
	ta := newTestAPI(t, false)
	code, body, h := ta.do("GET", "/openapi.json", "")
	if code != http.StatusOK || h.Get("Content-Type") != "application/json" {
		t.Fatalf("/openapi.json: %d %s", code, h.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.0.3" {
		t.Fatalf("openapi version %v", doc["openapi"])
	}
	ops := map[string]bool{}
	for _, op := range openapi.Operations(doc) {
		ops[op.String()] = true
	}
	for _, r := range (&API{}).routes() {
		if !ops[r.Method+" "+r.Path] {
			t.Errorf("merged document lacks %s %s", r.Method, r.Path)
		}
	}
	code, body, h = ta.do("GET", "/docs", "")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, `fetch("/openapi.json")`) {
		t.Fatalf("/docs: %d %s", code, h.Get("Content-Type"))
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Fatal("/docs must not load anything from another origin")
	}
}
