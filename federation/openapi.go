package federation

import _ "embed"

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the OpenAPI document of the federation's APIs.
func OpenAPI() []byte { return openAPI }
