package aiapi

import (
	"sort"
	"strings"
	"testing"

	"github.com/sqalfn/sqal/shared/openapi"
)

// TestOpenAPICoversRoutes fails when a route has no OpenAPI operation or the fragment
// documents an operation ai-api does not serve. The fragment spells paths as the
// dashboard calls them (trailing slash); routes are declared without it.
func TestOpenAPICoversRoutes(t *testing.T) {
	frag, err := openapi.Parse("ai-api", Fragment)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, op := range openapi.Operations(frag.Doc) {
		documented[op.Method+" "+strings.TrimSuffix(op.Path, "/")] = true
	}
	registered := map[string]bool{}
	for _, r := range (&API{}).routes() {
		registered[r.Method+" "+r.Path] = true
	}
	var diff []string
	for k := range registered {
		if !documented[k] {
			diff = append(diff, "undocumented: "+k)
		}
	}
	for k := range documented {
		if !registered[k] {
			diff = append(diff, "not served: "+k)
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("OpenAPI fragment and routes differ:\n%s", strings.Join(diff, "\n"))
	}
}
