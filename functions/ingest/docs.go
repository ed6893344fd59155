package ingest

import _ "embed"

// Fragment is ingest's OpenAPI fragment (merged into /openapi.json by shared/openapi
// from its copy there).
//
//go:embed openapi.yaml
var Fragment []byte
