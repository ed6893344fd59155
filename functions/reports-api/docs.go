package reportsapi

import _ "embed"

// Fragment is reports-api's OpenAPI fragment; shared/openapi merges its copy into the
// product's /openapi.json (served by sqal-api).
//
//go:embed openapi.yaml
var Fragment []byte
