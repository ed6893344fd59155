package realtime

import _ "embed"

// Fragment is realtime's OpenAPI fragment (merged into /openapi.json by shared/openapi
// from its copy there). It documents the public WebSocket only: POST /events is the
// Broker's internal delivery endpoint (see TestOpenAPICoversRoutes).
//
//go:embed openapi.yaml
var Fragment []byte
