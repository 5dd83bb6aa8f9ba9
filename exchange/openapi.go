package exchange

import _ "embed"

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 document of the exchange API.
func OpenAPI() []byte { return openAPIDoc }
