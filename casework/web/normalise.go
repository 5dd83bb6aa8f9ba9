package web

import (
	"strings"
	"unicode"
)

// normaliseCode brings an ID number or a unified social credit code as
// typed at the window to its standard form: full-width characters from a
// Chinese input method folded to their ASCII forms ('１' → '1', 'Ｘ' → 'X',
// the ideographic space → a space), letters in upper case, surrounding
// spaces trimmed. It is the width folding of NFKC for the characters these
// codes are made of; anything else is left as it is, for the validator to
// refuse. The JSON API does not normalise: a program sends the standard
// form.
func normaliseCode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E: // FULLWIDTH EXCLAMATION MARK … FULLWIDTH TILDE
			r -= 0xFEE0
		case r == 0x3000: // IDEOGRAPHIC SPACE
			r = ' '
		}
		if r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return strings.TrimFunc(b.String(), unicode.IsSpace)
}

// normalised is what normaliseCode made of s and whether that differs from
// s trimmed, which the page then tells the clerk.
func normalised(s string) (string, bool) {
	n := normaliseCode(s)
	return n, n != strings.TrimSpace(s)
}
