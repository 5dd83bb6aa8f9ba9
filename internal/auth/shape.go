package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// The jwt library decodes a token's header and claims with encoding/json,
// which lets the last of two members with one name win and turns a quoted
// number into a NumericDate. A token whose signer meant one thing and whose
// verifier reads another is not a token govx should act on, so shape
// checks the raw JSON first and refuses:
//
//   - a member name repeated in any object of the header or the claims
//     ("dept" twice: which department signed?);
//   - a "crit" header (RFC 7515 §4.1.11): govx understands no extension,
//     and a token that says its extension must be understood must then be
//     refused;
//   - exp, nbf or iat that is not a JSON number (RFC 7519 §2 NumericDate);
//   - iss, sub or jti that is not a string.
//
// The checks run before the signature is checked: they cost less, and a
// token that fails them is refused whoever signed it.

// shapeError is the cause of every refusal of shape; its message is the
// caller's. It is a malformed token to errors.Is.
type shapeError struct{ msg string }

func (e *shapeError) Error() string { return e.msg }
func (e *shapeError) Unwrap() error { return jwt.ErrTokenMalformed }

func shapeErr(format string, args ...any) error { return &shapeError{fmt.Sprintf(format, args...)} }

// shape checks the header and claims of the compact JWS token and returns
// the claims' iss ("" when absent).
func shape(token string) (iss string, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", shapeErr("token is malformed")
	}
	header, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
	if err != nil {
		return "", shapeErr("token is malformed")
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return "", shapeErr("token is malformed")
	}
	h, err := members(header, "header")
	if err != nil {
		return "", err
	}
	if _, ok := h["crit"]; ok {
		return "", shapeErr("token header names critical extensions (crit) that govx does not understand")
	}
	c, err := members(payload, "claims")
	if err != nil {
		return "", err
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v, ok := c[name]; ok {
			if _, isNum := v.(json.Number); !isNum {
				return "", shapeErr("token claim %s is not a number", name)
			}
		}
	}
	for _, name := range []string{"iss", "sub", "jti"} {
		if v, ok := c[name]; ok {
			if _, isStr := v.(string); !isStr {
				return "", shapeErr("token claim %s is not a string", name)
			}
		}
	}
	iss, _ = c["iss"].(string)
	return iss, nil
}

// members decodes the JSON object data, refusing a repeated member name in
// it or in any object nested in it, and trailing data. Numbers stay
// json.Number.
func members(data []byte, what string) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := value(dec, 0)
	if err != nil {
		var se *shapeError
		if errors.As(err, &se) {
			return nil, shapeErr("token %s: %s", what, se.msg)
		}
		return nil, shapeErr("token %s is not valid JSON", what)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, shapeErr("token %s holds data after its JSON object", what)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, shapeErr("token %s is not a JSON object", what)
	}
	return m, nil
}

// maxDepth bounds the nesting of a token's JSON.
const maxDepth = 32

func value(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, shapeErr("JSON is nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch d := tok.(type) {
	case json.Delim:
		switch d {
		case '{':
			m := make(map[string]any)
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string) // the decoder yields only string keys
				if _, dup := m[k]; dup {
					return nil, shapeErr("member %q appears more than once", k)
				}
				if m[k], err = value(dec, depth+1); err != nil {
					return nil, err
				}
			}
			_, err := dec.Token() // '}'
			return m, err
		case '[':
			var a []any
			for dec.More() {
				e, err := value(dec, depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, e)
			}
			_, err := dec.Token() // ']'
			return a, err
		}
		return nil, shapeErr("JSON is malformed")
	default:
		return tok, nil
	}
}
