package node_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"govx/node"
	"govx/node/nodetest"
)

// rawExchange sends first on one TCP connection to m, reads its answer,
// then sends GET /healthz on the same connection and reports whether that
// was answered too.
func rawExchange(t *testing.T, m *node.Node, first string) (*http.Response, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(m.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hang is a failure, not a timing
	br := bufio.NewReader(conn)
	if _, err := io.WriteString(conn, first); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("first answer: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: govx\r\n\r\n"); err != nil {
		return res, false
	}
	second, err := http.ReadResponse(br, nil)
	if err != nil {
		return res, false
	}
	second.Body.Close()
	return res, true
}

// TestConnectionEdge: every answer carries nosniff; a request framed both
// by Content-Length and Transfer-Encoding (or with a folded
// Transfer-Encoding) closes its connection, so whatever a proxy in front
// took for the next request is never served; an ordinary connection is
// kept alive; a forwarded "https" is not trusted without TLSProxy.
func TestConnectionEdge(t *testing.T) {
	m := nodetest.Start(t, nodetest.Config(t))

	for _, path := range []string{"/healthz", "/v1/nothing", "/metrics", "/ui/login", "/open/v1/datasets", "/v1/openapi.json"} {
		req, _ := http.NewRequest("GET", m.URL()+path, nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s (%d): X-Content-Type-Options %q", path, res.StatusCode, got)
		}
		if got := res.Header.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("GET %s: HSTS %q over plain HTTP on a forwarded header nobody vouched for", path, got)
		}
		for _, c := range res.Cookies() {
			if c.Secure {
				t.Errorf("GET %s: cookie %s Secure over plain HTTP", path, c.Name)
			}
		}
	}

	if _, again := rawExchange(t, m, "GET /healthz HTTP/1.1\r\nHost: govx\r\n\r\n"); !again {
		t.Error("an ordinary connection was not kept alive")
	}
	for name, first := range map[string]string{
		"Content-Length and Transfer-Encoding": "POST /v1/catalog/grants HTTP/1.1\r\nHost: govx\r\nContent-Type: application/json\r\n" +
			"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"folded Transfer-Encoding": "POST /v1/catalog/grants HTTP/1.1\r\nHost: govx\r\nContent-Type: application/json\r\n" +
			"Content-Length: 6\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
		"chunked GET": "GET /healthz HTTP/1.1\r\nHost: govx\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		res, again := rawExchange(t, m, first)
		if again {
			t.Errorf("%s: answered %d, and the next request on the connection was served", name, res.StatusCode)
		}
		if res.StatusCode < 400 && name != "chunked GET" {
			t.Errorf("%s: answered %d", name, res.StatusCode)
		}
	}
}

// TestBehindTLSProxy: with TLSProxy, cookies are Secure and an answer to a
// request the proxy says came over https carries Strict-Transport-Security.
func TestBehindTLSProxy(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.TLSProxy = true
	m := nodetest.Start(t, cfg)
	for _, proto := range []string{"https", "http", ""} {
		req, _ := http.NewRequest("GET", m.URL()+"/ui/progress", nil)
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		hsts := res.Header.Get("Strict-Transport-Security")
		if (proto == "https") != strings.HasPrefix(hsts, "max-age=") {
			t.Errorf("X-Forwarded-Proto %q: HSTS %q", proto, hsts)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("X-Forwarded-Proto %q: no nosniff", proto)
		}
		if len(res.Cookies()) == 0 {
			t.Fatalf("the progress page set no cookie")
		}
		for _, c := range res.Cookies() {
			if !c.Secure {
				t.Errorf("cookie %s is not Secure behind a TLS proxy", c.Name)
			}
		}
	}
}
