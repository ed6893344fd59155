package predict

import _ "embed"

// Fragment is predict's OpenAPI fragment (the /v2 inference API).
//
//go:embed openapi.yaml
var Fragment []byte
