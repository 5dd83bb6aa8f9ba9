package openapi

import (
	_ "embed"
	"net/http"
)

//go:embed docs.html
var docsPage []byte

// serveDocs answers the human-readable page: endpoints, parameters, the
// filter syntax and examples.
func serveDocs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(docsPage)
}
