package federation

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx"
)

// The node link: every call between two nodes is an HTTPS request whose
// body the sending node signs with its Ed25519 node key, and whose answer
// the answering node signs in turn, bound to the request's signature. A
// node takes a call only from the nodes it is linked to (Peer, with their
// public keys), only once (the signature is remembered until the clock
// window has passed) and only within ClockSkew of its own clock. TLS gives
// the link confidentiality; the signatures give it the authentication and
// the evidence, the same way on plain HTTP between two processes of one
// machine as over the network.
const (
	// HeaderNode names the node that sent a call or its answer.
	HeaderNode = "Govx-Node"
	// HeaderDate is the sender's clock, in Unix seconds.
	HeaderDate = "Govx-Node-Date"
	// HeaderNonce makes each call unique: Ed25519 signatures are
	// deterministic, and two equal calls in one second would otherwise be
	// one call taken twice.
	HeaderNonce = "Govx-Node-Nonce"
	// HeaderSignature is the Ed25519 signature, base64url without padding.
	HeaderSignature = "Govx-Node-Signature"

	// ClockSkew is how far a call's date may be from the receiver's clock.
	ClockSkew = time.Minute
	// MaxBody is the largest call or answer a link carries.
	MaxBody = 1 << 20
)

// requestText is what a node signs to send a call: who sends it to whom,
// when, which method and path, and the digest of the body.
func requestText(from, to, date, nonce, method, path string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte("govx-link/1 request\n" + from + "\n" + to + "\n" + date + "\n" + nonce + "\n" + method + " " + path + "\n" +
		base64.RawURLEncoding.EncodeToString(sum[:]))
}

// responseText is what a node signs to answer one: the answer's status and
// body, bound to the call it answers by the call's signature.
func responseText(from, to, date string, status int, requestSig string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte("govx-link/1 response\n" + from + "\n" + to + "\n" + date + "\n" + strconv.Itoa(status) + " " + requestSig + "\n" +
		base64.RawURLEncoding.EncodeToString(sum[:]))
}

func sign(key ed25519.PrivateKey, text []byte) string {
	return base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, text))
}

func verifySig(pub ed25519.PublicKey, text []byte, sig string) bool {
	b, err := base64.RawURLEncoding.DecodeString(sig)
	return err == nil && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, text, b)
}

// SignCall signs req, with body, as a call of node from to node to at
// time now, with from's node key: it sets HeaderNode, HeaderDate and
// HeaderSignature and returns the signature.
func SignCall(req *http.Request, from, to string, key *auth.Key, now time.Time, body []byte) string {
	date := strconv.FormatInt(now.Unix(), 10)
	var b [16]byte
	rand.Read(b[:])
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	sig := sign(key.Private, requestText(from, to, date, nonce, req.Method, req.URL.RequestURI(), body))
	req.Header.Set(HeaderNode, from)
	req.Header.Set(HeaderDate, date)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, sig)
	return sig
}

// linkError is the JSON an error crosses a link as: the error code and
// message, and its kind, so that the asking node answers its own caller
// with the same status the holding node would have.
type linkError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Kind    string `json:"kind"`
	} `json:"error"`
}

// call sends a signed call to peer and decodes its signed answer into out.
// A node that cannot be reached answers Unavailable node_unavailable, one
// that does not answer in time Timeout node_timeout, and an answer that is
// not signed by peer's key Unavailable node_unverified; an error the peer
// answered comes back with the peer's code and kind.
func (f *Federation) call(ctx context.Context, peer *Peer, method, path string, in, out any) error {
	body, err := f.send(ctx, peer, method, path, in)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return govx.Errorf(govx.KindUnavailable, "node_unavailable", "node %s: the answer is not what a node answers", peer.Name)
		}
	}
	return nil
}

// send is call without decoding the answer: it returns the body of a
// successful answer as peer signed it, its signature checked. A relaying
// node passes that body on as it came (rawReply), signed by itself in
// turn, instead of decoding and encoding it again.
func (f *Federation) send(ctx context.Context, peer *Peer, method, path string, in any) ([]byte, error) {
	const op = "federation.call"
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, govx.E(op, err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(peer.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, govx.Errorf(govx.KindUnavailable, "node_unavailable", "node %s: bad address %q", peer.Name, httpx.Truncate(peer.URL, 100))
	}
	req.Header.Set("Content-Type", "application/json")
	reqSig := SignCall(req, f.cfg.Name, peer.Name, f.cfg.Key, f.cfg.Now(), body)
	if until, down := f.downUntil(peer.Name); down {
		return nil, govx.Errorf(govx.KindUnavailable, "node_unavailable", "node %s could not be reached a moment ago; trying again after %s",
			peer.Name, until.Format(time.TimeOnly))
	}
	resp, err := f.client.Do(req)
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
		// Unreachable, not slow: calls in the next moment fail at once
		// instead of each waiting for its own dial to fail.
		f.markDown(peer.Name)
	}
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, &govx.Error{Kind: govx.KindTimeout, Code: "node_timeout", Op: op,
				Message: fmt.Sprintf("node %s did not answer in time", peer.Name), Err: err}
		}
		if ctx.Err() != nil {
			return nil, &govx.Error{Kind: govx.KindUnavailable, Code: "node_unavailable", Op: op, Message: "the call was cancelled", Err: err}
		}
		return nil, &govx.Error{Kind: govx.KindUnavailable, Code: "node_unavailable", Op: op,
			Message: fmt.Sprintf("node %s cannot be reached", peer.Name), Err: err}
	}
	defer resp.Body.Close()
	rbody, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil || len(rbody) > MaxBody {
		return nil, govx.Errorf(govx.KindUnavailable, "node_unavailable", "node %s: the answer could not be read", peer.Name)
	}
	if resp.Header.Get(HeaderNode) != peer.Name ||
		!verifySig(peer.Key, responseText(peer.Name, f.cfg.Name, resp.Header.Get(HeaderDate), resp.StatusCode, reqSig, rbody), resp.Header.Get(HeaderSignature)) {
		f.log.Warn("node link: answer not signed by the node called", "node", peer.Name, "status", resp.StatusCode)
		return nil, govx.Errorf(govx.KindUnavailable, "node_unverified", "node %s answered without its signature", peer.Name)
	}
	if resp.StatusCode/100 != 2 {
		var le linkError
		if json.Unmarshal(rbody, &le) != nil || le.Error.Code == "" {
			return nil, govx.Errorf(govx.KindUnavailable, "node_unavailable", "node %s answered %d", peer.Name, resp.StatusCode)
		}
		return nil, &govx.Error{Kind: govx.ParseKind(le.Error.Kind), Code: le.Error.Code, Op: op, Message: le.Error.Message}
	}
	return rbody, nil
}

// downFor is how long a linked node that could not be reached is not
// called again: long enough that a burst of queries does not each wait
// for a dial to fail, short enough that a node back is used at once.
const downFor = time.Second

func (f *Federation) markDown(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down == nil {
		f.down = map[string]time.Time{}
	}
	f.down[name] = f.cfg.Now().Add(downFor)
}

func (f *Federation) downUntil(name string) (time.Time, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	until, ok := f.down[name]
	return until, ok && f.cfg.Now().Before(until)
}

// linkCall is a call a node took: from which linked node, its body and the
// signature it came with (the answer is bound to it).
type linkCall struct {
	peer *Peer
	body []byte
	sig  string
}

// accept checks that r is a call of a node this one is linked to: signed
// by that node's key, meant for this node, dated within ClockSkew and not
// seen before. Errors are Unauthenticated (link_unsigned, link_unknown_node,
// link_unverified, link_stale) or Conflict link_replayed.
func (f *Federation) accept(r *http.Request) (*linkCall, error) {
	from, date, nonce, sig := r.Header.Get(HeaderNode), r.Header.Get(HeaderDate), r.Header.Get(HeaderNonce), r.Header.Get(HeaderSignature)
	if from == "" || date == "" || nonce == "" || sig == "" || len(nonce) > 64 {
		return nil, govx.Errorf(govx.KindUnauthenticated, "link_unsigned", "a node link call carries the calling node's name, date, nonce and signature")
	}
	peer := f.peer(from)
	if peer == nil {
		return nil, govx.Errorf(govx.KindUnauthenticated, "link_unknown_node", "this node has no link to node %q", httpx.Truncate(from, 64))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, govx.Errorf(govx.KindInvalid, "invalid_body", "could not read the call's body")
	}
	if len(body) > MaxBody {
		return nil, govx.Errorf(govx.KindTooLarge, "body_too_large", "a node link call is at most %d bytes", MaxBody)
	}
	if !verifySig(peer.Key, requestText(from, f.cfg.Name, date, nonce, r.Method, r.URL.RequestURI(), body), sig) {
		return nil, govx.Errorf(govx.KindUnauthenticated, "link_unverified", "the call is not signed by node %s's key", peer.Name)
	}
	secs, err := strconv.ParseInt(date, 10, 64)
	if d := f.cfg.Now().Sub(time.Unix(secs, 0)); err != nil || d > ClockSkew || d < -ClockSkew {
		return nil, govx.Errorf(govx.KindUnauthenticated, "link_stale", "the call's date is more than %s from this node's clock", ClockSkew)
	}
	// Each signed call is taken once, by whichever instance sees it first.
	fresh, err := f.cfg.Redis.SetNX(r.Context(), f.cfg.Redis.Key("federation:seen:"+sig), from, 2*ClockSkew+time.Second).Result()
	if err != nil {
		return nil, govx.Errorf(govx.KindUnavailable, "replay_check_unavailable", "the node cannot check the call against those it took")
	}
	if !fresh {
		return nil, govx.Errorf(govx.KindConflict, "link_replayed", "this signed call was taken before")
	}
	return &linkCall{peer: peer, body: body, sig: sig}, nil
}

// rawReply is an answer a relaying node passes on as the next node
// signed it (Federation.send checked that signature): answer writes it
// unchanged and signs it with this node's key.
type rawReply []byte

// answer writes v (or err, as a linkError) as the signed answer to call c.
// An unauthenticated call (c nil) gets an unsigned error: there is no
// linked node to sign it for.
func (f *Federation) answer(w http.ResponseWriter, r *http.Request, c *linkCall, status int, v any, err error) {
	var body []byte
	if err != nil {
		status = httpx.StatusOf(err)
		var le linkError
		le.Error.Code, le.Error.Message, le.Error.Kind = govx.ErrorCode(err), govx.ErrorMessage(err), govx.ErrorKind(err).String()
		if status >= 500 && govx.ErrorKind(err) == govx.KindInternal {
			f.log.Error("node link", "path", r.URL.Path, "err", err)
		}
		body, _ = json.Marshal(le)
	} else if raw, ok := v.(rawReply); ok {
		body = raw
	} else {
		body, _ = json.Marshal(v)
	}
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Govx-Node realm="govx-federation"`)
	}
	if c != nil {
		date := strconv.FormatInt(f.cfg.Now().Unix(), 10)
		w.Header().Set(HeaderNode, f.cfg.Name)
		w.Header().Set(HeaderDate, date)
		w.Header().Set(HeaderSignature, sign(f.cfg.Key.Private, responseText(f.cfg.Name, c.peer.Name, date, status, c.sig, body)))
	}
	w.WriteHeader(status)
	w.Write(body)
}
