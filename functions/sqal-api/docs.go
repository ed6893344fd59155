package sqalapi

import (
	_ "embed"
	"net/http"

	"github.com/sqalfn/sqal/shared/openapi"
)

// Fragment is sqal-api's OpenAPI fragment (also merged into /openapi.json by
// shared/openapi from its copy).
//
//go:embed openapi.yaml
var Fragment []byte

// openAPI serves the merged document of every function.
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	doc, err := openapi.Document()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(doc)
}

// docs serves the documentation page that renders /openapi.json.
func (a *API) docs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openapi.DocsHTML)
}
