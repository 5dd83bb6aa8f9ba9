package httpx

import (
	"io"
	"net/http"
	"time"
)

// Streams (an export of a million rows, an upload of tens of megabytes)
// outlast any whole-request deadline a server can set without giving up
// its protection against clients that hold a connection and send nothing.
// They get idle deadlines instead: each chunk read or written moves the
// connection's deadline to idle from now, through http.ResponseController,
// so a stream may take as long as it keeps moving. The header deadline
// (ReadHeaderTimeout) is untouched.

// IdleWriter is w, whose every write first moves the connection's write
// deadline to idle from now.
func IdleWriter(w http.ResponseWriter, idle time.Duration) io.Writer {
	rc := http.NewResponseController(w)
	return writerFunc(func(p []byte) (int, error) {
		rc.SetWriteDeadline(time.Now().Add(idle)) // ErrNotSupported: the server's own deadline holds
		return w.Write(p)
	})
}

// IdleBody is r's body, whose every read first moves the connection's read
// deadline to idle from now. The write deadline moves too, so that the
// answer to a long upload can still be written.
func IdleBody(w http.ResponseWriter, r *http.Request, idle time.Duration) io.ReadCloser {
	rc := http.NewResponseController(w)
	return idleBody{ReadCloser: r.Body, touch: func() {
		now := time.Now()
		rc.SetReadDeadline(now.Add(idle))
		rc.SetWriteDeadline(now.Add(idle))
	}}
}

// ExtendWrite moves the connection's write deadline to idle from now: for
// an answer written after a stream that took longer than the server's
// whole-request deadline.
func ExtendWrite(w http.ResponseWriter, idle time.Duration) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(idle))
}

type idleBody struct {
	io.ReadCloser
	touch func()
}

func (b idleBody) Read(p []byte) (int, error) {
	b.touch()
	return b.ReadCloser.Read(p)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
