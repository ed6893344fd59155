package adminapi

import _ "embed"

// Fragment is admin-api's OpenAPI fragment (also merged into /openapi.json by
// shared/openapi from its copy).
//
//go:embed openapi.yaml
var Fragment []byte
