package aiapi

import _ "embed"

// Fragment is ai-api's OpenAPI fragment (merged into /openapi.json by shared/openapi).
//
//go:embed openapi.yaml
var Fragment []byte
