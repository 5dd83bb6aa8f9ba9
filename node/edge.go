package node

import (
	"net/http"
	"strings"
)

// hstsValue is the Strict-Transport-Security of answers sent over TLS:
// a year, the common floor for preload lists.
const hstsValue = "max-age=31536000"

// edge wraps the node's router with what every answer needs whatever API
// it comes from:
//
//   - X-Content-Type-Options: nosniff, so no answer (a JSON error, an
//     export, a page) is sniffed into something a browser runs;
//   - Strict-Transport-Security when the request came over TLS: TLS here,
//     a PublicURL with https, or, with TLSProxy only, a proxy saying so in
//     X-Forwarded-Proto (a header anyone can send, trusted only when the
//     operator declared a TLS proxy in front);
//   - Connection: close after any request with a Transfer-Encoding. Go
//     takes a request with both Content-Length and Transfer-Encoding (or a
//     Transfer-Encoding folded over two lines) as chunked and drops the
//     Content-Length, so the two framings cannot be told apart here; a
//     proxy in front may have framed it by Content-Length, and what it
//     took for the next request is still in this connection. RFC 9112
//     §6.1 asks the server to close the connection after such a message;
//     closing after every chunked request costs an honest client one new
//     connection per streamed upload.
func (n *Node) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if n.overTLS(r) {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		if len(r.TransferEncoding) > 0 {
			h.Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// overTLS reports whether r reached the node over TLS.
func (n *Node) overTLS(r *http.Request) bool {
	switch {
	case r.TLS != nil, n.cfg.publicHTTPS():
		return true
	case n.cfg.TLSProxy:
		proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
		return strings.EqualFold(strings.TrimSpace(proto), "https")
	}
	return false
}
