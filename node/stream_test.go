package node_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/internal/auth"
	"govx/node/nodetest"
)

// TestLongStreams: an upload and an export that take longer than the
// server's whole-request read and write deadlines, but never stand still
// longer than the idle deadline, complete. The deadlines are made short
// here; in production they are 30 s and more against exports of a
// million rows.
func TestLongStreams(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.ReadTimeout, cfg.WriteTimeout, cfg.StreamIdle = time.Second, time.Second, 10*time.Second
	m := nodetest.Start(t, cfg)
	pub := nodetest.Token(t, m.Key, auth.TokenSpec{Dept: population.Department, Role: "service"})
	if status, body, _ := nodetest.Call(t, "PUT", m.URL()+"/open/v1/datasets/long-stream", pub,
		map[string]any{"title": "Long stream"}); status != 201 && status != 200 {
		t.Fatalf("PUT: %d %v", status, body)
	}

	// About 8 MB of rows, sent in 16 pieces a tenth of a second apart:
	// longer than ReadTimeout in all, never idle for long.
	const rows = 200_000
	var csv bytes.Buffer
	csv.WriteString("id,name,note\n")
	for i := range rows {
		fmt.Fprintf(&csv, "%d,resident %d,a note long enough to weigh\n", i, i)
	}
	data := csv.Bytes()
	pr, pw := io.Pipe()
	go func() {
		step := len(data)/16 + 1
		for off := 0; off < len(data); off += step {
			if _, err := pw.Write(data[off:min(off+step, len(data))]); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", m.URL()+"/open/v1/datasets/long-stream/versions?columns=id:integer,name:text,note:text", pr)
	req.Header.Set("Authorization", "Bearer "+pub)
	req.Header.Set("Content-Type", "text/csv")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("slow upload: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("slow upload: %d %s", res.StatusCode, b)
	}

	// The export read slowly through a small receive buffer, so the
	// server's writes wait on the reader for longer than WriteTimeout.
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableCompression: true}}
	res, err = client.Get(m.URL() + "/open/v1/datasets/long-stream/export?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("export: %d", res.StatusCode)
	}
	var got bytes.Buffer
	buf := make([]byte, 256<<10)
	for {
		n, err := res.Body.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("export cut after %d bytes: %v", got.Len(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lines := strings.Count(got.String(), "\n"); lines != rows+1 {
		t.Errorf("export has %d lines, want %d", lines, rows+1)
	}
}
