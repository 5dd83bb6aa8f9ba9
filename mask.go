package govx

import "strings"

// MaskedOther is what MaskSubject shows for a key that is neither an ID
// number nor a unified social credit code: a fixed shape, so that not even
// its length shows.
const MaskedOther = "********"

// MaskSubject hides whose data a record of an access concerns, for
// operator views (the exchange's audit ledger, a department's provider
// log). The records keep the full key, so data subjects can find them;
// operators see:
//
//   - an ID number (18 characters: 17 digits and a digit or X, whether or
//     not its check character is right) as its first 3 and last 2
//     characters with 13 asterisks between: "110*************77". The
//     first 3 name a province and city, the last 2 a digit of the sequence
//     and the check character; the county, the birth date and most of the
//     sequence stay hidden.
//   - a valid unified social credit code unchanged: it names a company,
//     which is not personal data. A code that also has the shape of an ID
//     number (all digits) is masked as one: a person is the safer guess.
//   - anything else (licence numbers, malformed keys) as MaskedOther;
//     "" stays "".
func MaskSubject(key string) string {
	switch {
	case key == "":
		return ""
	case idShaped(key):
		return maskID(key)
	case ValidateUSCC(key) == nil:
		return key
	}
	return MaskedOther
}

func maskID(s string) string { return s[:3] + strings.Repeat("*", len(s)-5) + s[len(s)-2:] }

// idShaped reports whether s looks like a resident ID number: 18 ASCII
// characters, 17 digits then a digit or X (either case).
func idShaped(s string) bool {
	if len(s) != IDNumberLen {
		return false
	}
	for i := 0; i < len(s)-1; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	c := s[len(s)-1]
	return c >= '0' && c <= '9' || c == 'X' || c == 'x'
}

// MaskText masks every ID number inside free text (a caller's subject
// "citizen:110…", a purpose, a request ID): each run of letters and digits
// that has an ID number's shape is masked as MaskSubject masks it, and so
// is every run of 15 digits (the older 15-digit ID number). The rest of
// the text is kept.
func MaskText(s string) string {
	var b strings.Builder
	masked := false
	start := -1
	flush := func(end int) {
		run := s[start:end]
		switch {
		case idShaped(run), len(run) == 15 && allDigits(run):
			if !masked {
				b.Grow(len(s))
				b.WriteString(s[:start])
				masked = true
			}
			b.WriteString(maskID(run))
		case masked:
			b.WriteString(run)
		}
		start = -1
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		switch {
		case alnum && start < 0:
			start = i
		case !alnum && start >= 0:
			flush(i)
		}
		if !alnum && masked {
			b.WriteByte(c)
		}
	}
	if start >= 0 {
		flush(len(s))
	}
	if !masked {
		return s
	}
	return b.String()
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
