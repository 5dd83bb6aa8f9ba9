package govx

import (
	"time"
	"unicode/utf8"
)

// The resident identity number (公民身份号码) of GB 11643-1999 has 18
// characters:
//
//	positions  1–6   administrative division code (GB/T 2260) where first registered
//	positions  7–14  birth date YYYYMMDD
//	positions 15–17  sequence number; odd for men, even for women
//	position  18     check character, ISO 7064 MOD 11-2 over the first 17 digits
//
// It is the key of the population register and the identifier most requests
// on the exchange carry, so ValidateIDNumber sits on the hot path: it does
// not allocate unless it rejects the number.

// IDNumberLen is the length of a resident identity number.
const IDNumberLen = 18

// CodeInvalidIDNumber is the stable code of every rejection of an ID
// number, for callers that tell it apart from other errors.
const CodeInvalidIDNumber = "invalid_id_number"

// idWeights are the ISO 7064 MOD 11-2 weights 2^(17-i) mod 11 of the first
// 17 positions.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheckChars maps the weighted sum mod 11 to the check character.
const idCheckChars = "10X98765432"

// earliestBirthYear bounds the birth dates ValidateIDNumber accepts from
// below: a year before it is a typo, not a living register entry.
const earliestBirthYear = 1800

// chinaStandardTime is the zone in which "today" is judged: a child born
// today in Beijing must be valid although it is still yesterday in UTC.
var chinaStandardTime = time.FixedZone("CST", 8*60*60)

// knownPast is a date, as YYYYMMDD, that has certainly passed.
const knownPast = 20260101

// today returns the current date in China as YYYYMMDD.
func today() int {
	y, m, d := time.Now().In(chinaStandardTime).Date()
	return y*10000 + int(m)*100 + d
}

// IDNumberCheckChar returns the check character ('0'–'9' or 'X') that
// completes the 17 digits first17 into a resident identity number.
func IDNumberCheckChar(first17 string) (byte, error) {
	if len(first17) != IDNumberLen-1 {
		return 0, Errorf(KindInvalid, CodeInvalidIDNumber,
			"ID number body must have 17 digits, got %d characters", utf8.RuneCountInString(first17))
	}
	sum := 0
	for i := 0; i < IDNumberLen-1; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, Errorf(KindInvalid, CodeInvalidIDNumber,
				"ID number character %d must be a digit", i+1)
		}
		sum += int(c-'0') * idWeights[i]
	}
	return idCheckChars[sum%11], nil
}

// ValidateIDNumber reports whether s is a well-formed resident identity
// number: 18 characters, 17 digits, a birth date that exists and is not in
// the future, and the right check character (an uppercase X stands for ten;
// a lowercase x is refused so that one person has one spelling). It does not
// say whether the number was ever issued.
//
// A rejection is an *Error of KindInvalid with code "invalid_id_number" and a
// message that names the fault but never repeats the number.
func ValidateIDNumber(s string) error {
	if len(s) != IDNumberLen {
		n := utf8.RuneCountInString(s)
		if n == IDNumberLen {
			// 18 characters but more bytes: full-width digits and the like.
			return Errorf(KindInvalid, CodeInvalidIDNumber,
				"ID number must consist of ASCII digits and a final X, got non-ASCII characters")
		}
		return Errorf(KindInvalid, CodeInvalidIDNumber,
			"ID number must have 18 characters, got %d", n)
	}
	sum := 0
	for i := 0; i < IDNumberLen-1; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return Errorf(KindInvalid, CodeInvalidIDNumber,
				"ID number character %d must be a digit", i+1)
		}
		sum += int(c-'0') * idWeights[i]
	}
	last := s[IDNumberLen-1]
	switch {
	case last == 'x':
		return Errorf(KindInvalid, CodeInvalidIDNumber,
			"ID number check character must be an uppercase X, not a lowercase x")
	case last != 'X' && (last < '0' || last > '9'):
		return Errorf(KindInvalid, CodeInvalidIDNumber,
			"ID number character 18 must be a digit or an uppercase X")
	}
	if err := validateBirthDate(s[6:14]); err != nil {
		return err
	}
	if want := idCheckChars[sum%11]; last != want {
		return Errorf(KindInvalid, CodeInvalidIDNumber,
			"ID number check character is %c, expected %c", last, want)
	}
	return nil
}

// validateBirthDate checks the 8 digits YYYYMMDD of an ID number.
func validateBirthDate(d string) error {
	year := num(d[0:4])
	month := num(d[4:6])
	day := num(d[6:8])
	if month < 1 || month > 12 {
		return Errorf(KindInvalid, CodeInvalidIDNumber,
			"ID number birth date has month %02d, which does not exist", month)
	}
	if day < 1 || day > daysIn(year, month) {
		return Errorf(KindInvalid, CodeInvalidIDNumber,
			"ID number birth date has day %02d in month %02d of %04d, which does not exist", day, month, year)
	}
	if year < earliestBirthYear {
		return Errorf(KindInvalid, CodeInvalidIDNumber,
			"ID number birth year %04d is before %d", year, earliestBirthYear)
	}
	// Only a date after knownPast can be in the future; skipping the clock
	// for everyone else halves the cost of a validation.
	if date := year*10000 + month*100 + day; date > knownPast && date > today() {
		return Errorf(KindInvalid, CodeInvalidIDNumber, "ID number birth date is in the future")
	}
	return nil
}

// num parses a short run of ASCII digits already known to be digits.
func num(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
