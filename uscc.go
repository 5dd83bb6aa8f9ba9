package govx

import "unicode/utf8"

// The unified social credit code (统一社会信用代码) of GB 32100-2015 has 18
// characters from a 31-character alphabet (digits and upper-case letters
// without I, O, Z, S, V):
//
//	position  1      registration authority (1 government bodies, 5 civil affairs,
//	                 9 market regulation, Y others, …)
//	position  2      organisation type within that authority
//	positions 3–8    administrative division code (GB/T 2260)
//	positions 9–17   organisation code (GB 11714), itself with a check character
//	position  18     check character, MOD 31 over the first 17 characters
//
// It keys the legal-entity register and the licences companies hold.

// USCCLen is the length of a unified social credit code.
const USCCLen = 18

// CodeInvalidUSCC is the stable code of every rejection of a unified
// social credit code, for callers that tell it apart from other errors.
const CodeInvalidUSCC = "invalid_uscc"

// usccAlphabet is the code's character set; a character's value is its
// index.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are 3^i mod 31 for positions 1–17.
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// usccValue is the value of each byte in the alphabet, or -1.
var usccValue = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(usccAlphabet); i++ {
		v[usccAlphabet[i]] = int8(i)
	}
	return v
}()

// orgWeights are the GB 11714 weights of the organisation code's first 8
// characters.
var orgWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// orgValue is a character's value in GB 11714: digits 0–9, letters A=10 …
func orgValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return -1
}

// OrgCodeCheckChar returns the GB 11714 check character completing the
// 8-character body of an organisation code.
func OrgCodeCheckChar(body8 string) (byte, error) {
	if len(body8) != 8 {
		return 0, Errorf(KindInvalid, CodeInvalidUSCC, "organisation code body must have 8 characters")
	}
	sum := 0
	for i := 0; i < 8; i++ {
		v := orgValue(body8[i])
		if v < 0 {
			return 0, Errorf(KindInvalid, CodeInvalidUSCC, "organisation code holds %q", body8[i])
		}
		sum += v * orgWeights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X', nil
	case 11:
		return '0', nil
	default:
		return byte('0' + c), nil
	}
}

// USCCCheckChar returns the check character that completes the 17
// characters first17 into a unified social credit code.
func USCCCheckChar(first17 string) (byte, error) {
	if len(first17) != USCCLen-1 {
		return 0, Errorf(KindInvalid, CodeInvalidUSCC,
			"unified social credit code body must have 17 characters, got %d", utf8.RuneCountInString(first17))
	}
	sum := 0
	for i := 0; i < USCCLen-1; i++ {
		v := usccValue[first17[i]]
		if v < 0 {
			return 0, Errorf(KindInvalid, CodeInvalidUSCC,
				"unified social credit code holds %q at position %d; allowed are digits and the letters ABCDEFGHJKLMNPQRTUWXY", first17[i], i+1)
		}
		sum += int(v) * usccWeights[i]
	}
	return usccAlphabet[(31-sum%31)%31], nil
}

// ValidateUSCC checks a unified social credit code: length, alphabet,
// division code digits and the check character. Lower-case letters are
// refused rather than folded, so that one company has one spelling on the
// bus. It does not allocate unless it rejects the code.
func ValidateUSCC(s string) error {
	if len(s) != USCCLen {
		return Errorf(KindInvalid, CodeInvalidUSCC,
			"a unified social credit code has 18 characters, got %d", utf8.RuneCountInString(s))
	}
	for i := 2; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return Errorf(KindInvalid, CodeInvalidUSCC, "positions 3–8 of a unified social credit code are a division code of digits")
		}
	}
	want, err := USCCCheckChar(s[:USCCLen-1])
	if err != nil {
		return err
	}
	if usccValue[s[USCCLen-1]] < 0 {
		return Errorf(KindInvalid, CodeInvalidUSCC, "the check character %q is not in the code's alphabet", s[USCCLen-1])
	}
	if s[USCCLen-1] != want {
		return Errorf(KindInvalid, CodeInvalidUSCC, "the check character of the unified social credit code is wrong")
	}
	return nil
}
