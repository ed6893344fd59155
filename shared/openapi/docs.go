package openapi

import _ "embed"

// DocsHTML is the /docs page: a self-contained HTML page (no CDN: the product runs on
// closed networks) that fetches /openapi.json and renders every operation with its
// parameters, request body and responses.
//
//go:embed docs.html
var DocsHTML []byte
