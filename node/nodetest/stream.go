package nodetest

import (
	"bufio"
	"context"
	"encoding/json"
	"govx/exchange"
	"govx/node"
	"net/http"
	"strings"
	"testing"
	"time"
)

// SSEEvent is one server-sent event.
type SSEEvent struct {
	ID, Event string
	Data      string
}

// Stream is an open subscription read in the background.
type Stream struct {
	RequestID  string
	First      string // the id of the opening block: the starting cursor
	events     chan SSEEvent
	Heartbeats chan struct{}
	ended      chan struct{}
	cancel     context.CancelFunc
}

// Subscribe opens GET /v1/resources/{resource}/events with query; a
// non-200 answer is returned decoded instead of a stream.
func Subscribe(t testing.TB, m *node.Node, resource, token, query, lastEventID string) (*Stream, *Response) {
	t.Helper()
	return SubscribeURL(t, m.URL()+"/v1/resources/"+resource+"/events?"+query, token, lastEventID)
}

// SubscribeURL opens the event stream at url (another node's resource's,
// say); a non-200 answer is returned decoded instead of a stream.
func SubscribeURL(t testing.TB, url, token, lastEventID string) (*Stream, *Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		out := &Response{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
		if err := json.NewDecoder(resp.Body).Decode(&out.Body); err != nil {
			t.Fatalf("decode error answer: %v", err)
		}
		return nil, out
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type = %q", ct)
	}
	s := &Stream{RequestID: resp.Header.Get("X-Request-Id"), events: make(chan SSEEvent, 64), ended: make(chan struct{}), cancel: cancel,
		Heartbeats: make(chan struct{}, 64)}
	first := make(chan string, 1)
	go func() {
		defer close(s.ended)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev SSEEvent
		opened := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if !opened {
					opened = true
					first <- ev.ID
				} else if ev.Data != "" {
					s.events <- ev
				}
				ev = SSEEvent{}
			case line == ": heartbeat":
				select {
				case s.Heartbeats <- struct{}{}:
				default:
				}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[6:]
			}
		}
	}()
	select {
	case s.First = <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no opening block on the stream")
	}
	t.Cleanup(cancel)
	return s, nil
}

func (s *Stream) Next(t testing.TB) (SSEEvent, exchange.EventMessage) {
	t.Helper()
	select {
	case ev := <-s.events:
		var msg exchange.EventMessage
		if err := json.Unmarshal([]byte(ev.Data), &msg); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		return ev, msg
	case <-s.ended:
		t.Fatal("stream ended")
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15s")
	}
	panic("unreachable")
}

// Quiet asserts that nothing more arrives for a while.
func (s *Stream) Quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case ev := <-s.events:
		t.Fatalf("unexpected event: %+v", ev)
	case <-time.After(d):
	}
}

// Ended is closed when the server has ended the stream.
func (s *Stream) Ended() <-chan struct{} { return s.ended }

// Close ends the subscription from the client's side.
func (s *Stream) Close() { s.cancel() }
