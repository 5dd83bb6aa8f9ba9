package licence

import (
	"crypto/ed25519"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"govx"
)

// Licence types, each served as the resource "licence.<type>".
const (
	TypeFoodBusiness  = "food-business"  // 食品经营许可证
	TypePharmacy      = "pharmacy"       // 药品经营许可证
	TypeConstruction  = "construction"   // 建筑施工企业安全生产许可证
	TypeRoadTransport = "road-transport" // 道路运输经营许可证
)

// Types lists the licence types in catalogue order.
var Types = []string{TypeFoodBusiness, TypePharmacy, TypeConstruction, TypeRoadTransport}

// Values of Licence.Status.
const (
	StatusValid   = "valid"
	StatusRevoked = "revoked" // 注销/吊销: terminal
	StatusExpired = "expired" // past ValidUntil: terminal
)

// Licence is one electronic licence as the register holds it.
//
// ID is the electronic licence identifier, shaped after GB/T 36901: the
// electronic licence root arc 1.2.156.3005.2, the licence type's arc, the
// issuing authority's code and a serial ("1.2.156.3005.2.1001.11440106….0000012345").
//
// Seal is the issuing authority's electronic seal: an Ed25519 (RFC 8032,
// pure Ed25519) signature by the key SealKeyID over Canonical(l). The
// public key is registered in the catalogue under the licensing department
// (catalog.DepartmentKeys), so anyone can check a licence offline with
// VerifySeal. Status and the revocation fields are outside the seal: they
// change over a licence's life without the authority reissuing it.
type Licence struct {
	ID            string
	Type          string // TypeFoodBusiness, …
	Number        string // as printed on the licence; the register's key
	HolderName    string
	HolderCode    string    // unified social credit code, or resident ID number of a natural person
	Authority     string    // name of the issuing authority
	AuthorityCode string    // its unified social credit code
	IssueDate     time.Time // dates are midnight UTC
	ValidFrom     time.Time
	ValidUntil    time.Time // last day of validity
	Status        string
	Items         map[string]string // the face items (许可项目), e.g. premises, business_items
	SealKeyID     string
	Seal          []byte // 64-byte Ed25519 signature

	RevokedAt        *time.Time
	RevocationReason string
	UpdatedAt        time.Time
}

// EffectiveStatus is the licence's status on day now: a licence stored as
// valid whose last day of validity has passed is expired.
func (l *Licence) EffectiveStatus(now time.Time) string {
	if l.Status == StatusValid && now.UTC().Truncate(24*time.Hour).After(l.ValidUntil) {
		return StatusExpired
	}
	return l.Status
}

// Canonical returns the bytes a licence's seal signs: the JSON Canonicalization
// Scheme (RFC 8785) form of the object
//
//	{"authority":…, "authority_code":…, "holder_code":…, "holder_name":…,
//	 "id":…, "issue_date":…, "items":{…}, "number":…, "seal_key_id":…,
//	 "type":…, "valid_from":…, "valid_until":…}
//
// that is, every field of the licence except the seal itself, the status
// and the revocation fields. Dates are "YYYY-MM-DD"; items is an object of
// strings (empty when there are none). Because every value is a string or
// an object of strings, the form is simply: members sorted by the UTF-16
// code units of their names, at every level; no whitespace outside strings;
// strings in UTF-8 with only `"`, `\` and U+0000–U+001F escaped (\b \t \n
// \f \r by name, the rest as \u00xx in lower-case hex); nothing else
// escaped. SealKeyID is inside the signed bytes, so a seal cannot be passed
// off as made by another key.
func Canonical(l *Licence) []byte {
	b := make([]byte, 0, 512)
	b = append(b, '{')
	member := func(name, value string, first bool) {
		if !first {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		b = appendJSONString(b, value)
	}
	// Member names below are ASCII and already in order.
	member("authority", l.Authority, true)
	member("authority_code", l.AuthorityCode, false)
	member("holder_code", l.HolderCode, false)
	member("holder_name", l.HolderName, false)
	member("id", l.ID, false)
	member("issue_date", l.IssueDate.Format(time.DateOnly), false)
	b = append(b, `,"items":`...)
	b = appendItems(b, l.Items)
	member("number", l.Number, false)
	member("seal_key_id", l.SealKeyID, false)
	member("type", l.Type, false)
	member("valid_from", l.ValidFrom.Format(time.DateOnly), false)
	member("valid_until", l.ValidUntil.Format(time.DateOnly), false)
	return append(b, '}')
}

// appendItems appends items as a canonical JSON object, which is also how
// the register stores them.
func appendItems(b []byte, items map[string]string) []byte {
	keys := make([]string, 0, len(items))
	for k := range items {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareUTF16)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, items[k])
	}
	return append(b, '}')
}

// compareUTF16 orders strings by their UTF-16 code units, as RFC 8785
// sorts member names. It differs from byte order only where a character
// above U+FFFF meets one in U+E000–U+FFFF.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return slices.Compare(utf16.Encode([]rune{ra}), utf16.Encode([]rune{rb}))
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20:
			b = append(b, c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	return append(b, '"')
}

// sign seals l with priv, whose key id l.SealKeyID must already name.
func sign(l *Licence, priv ed25519.PrivateKey) {
	l.Seal = ed25519.Sign(priv, Canonical(l))
}

// VerifySeal checks l's electronic seal against pub, the public key the
// catalogue lists under l.SealKeyID. It fails with KindInvalid
// ("seal_invalid") when any sealed field was altered or the seal was not
// made with that key, and ("seal_key_mismatch") when the key id does not
// belong to the authority the licence names. It does not look at the
// status: a sealed licence may since have been revoked or have expired.
func VerifySeal(l Licence, pub ed25519.PublicKey) error {
	const op = "licence.VerifySeal"
	if len(pub) != ed25519.PublicKeySize {
		return govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_public_key", "an Ed25519 public key has %d bytes", ed25519.PublicKeySize))
	}
	if keyAuthority(l.SealKeyID) != l.AuthorityCode {
		return govx.E(op, govx.Errorf(govx.KindInvalid, "seal_key_mismatch",
			"the seal's key %q is not a key of the issuing authority %s", l.SealKeyID, l.AuthorityCode))
	}
	if len(l.Seal) != ed25519.SignatureSize || !ed25519.Verify(pub, Canonical(&l), l.Seal) {
		return govx.E(op, govx.Errorf(govx.KindInvalid, "seal_invalid", "the electronic seal of licence %s does not verify", l.Number))
	}
	return nil
}

// KeyID is the id of an issuing authority's seal key: the authority's code,
// a dot and the first 16 characters of the key's RFC 7638 thumbprint. The
// authority is part of the id so that a verifier can tell that the key
// belongs to the authority the licence names.
func KeyID(authorityCode, thumbprint string) string {
	return authorityCode + "." + thumbprint[:16]
}

func keyAuthority(keyID string) string {
	a, _, ok := strings.Cut(keyID, ".")
	if !ok {
		return ""
	}
	return a
}

// Licence numbers, per type. Each embeds a six-digit serial that is
// unique across the register.
var numberRE = map[string]*regexp.Regexp{
	// JY, the business type (1 sales, 2 catering, 3 canteen), the division,
	// the serial and a check digit.
	TypeFoodBusiness: regexp.MustCompile(`^JY[123][0-9]{6}[0-9]{6}[0-9]$`),
	// Province, category (AA wholesale, CA retail chain, DA retail), the
	// city, the serial.
	TypePharmacy: regexp.MustCompile(`^\p{Han}(AA|CA|DA)[0-9]{4}[0-9]{6}$`),
	// (粤)JZ安许证字[2021]000123
	TypeConstruction: regexp.MustCompile(`^\(\p{Han}\)JZ安许证字\[(19|20)[0-9]{2}\][0-9]{6}$`),
	// 粤交运管许可穗字440106000123号
	TypeRoadTransport: regexp.MustCompile(`^\p{Han}交运管许可\p{Han}字[0-9]{6}[0-9]{6}号$`),
}

const codeInvalidNumber = "invalid_licence_number"

// ValidateNumber checks that number has the shape of a licence number of
// type typ (and, for food business licences, its check digit). It is
// KindInvalid ("invalid_licence_number") otherwise.
func ValidateNumber(typ, number string) error {
	re, ok := numberRE[typ]
	if !ok {
		return govx.Errorf(govx.KindInvalid, "invalid_licence_type", "no licence type %q", typ)
	}
	if len(number) > 64 || !re.MatchString(number) {
		return govx.Errorf(govx.KindInvalid, codeInvalidNumber, "%q is not a %s licence number", truncate(number, 64), typ)
	}
	if typ == TypeFoodBusiness && checkDigit(number[2:15]) != number[15] {
		return govx.Errorf(govx.KindInvalid, codeInvalidNumber, "the check digit of food business licence number %s is wrong", number)
	}
	return nil
}

// checkDigit is ISO 7064 MOD 11,10 over a string of digits.
func checkDigit(digits string) byte {
	p := 10
	for i := 0; i < len(digits); i++ {
		s := (p + int(digits[i]-'0')) % 10
		if s == 0 {
			s = 10
		}
		p = (2 * s) % 11
	}
	return byte('0' + (11-p)%10)
}

// ValidateHolder checks that code is a unified social credit code or a
// resident ID number: KindInvalid ("invalid_holder") otherwise.
func ValidateHolder(code string) error {
	if govx.ValidateUSCC(code) == nil || govx.ValidateIDNumber(code) == nil {
		return nil
	}
	return govx.Errorf(govx.KindInvalid, "invalid_holder",
		"a holder is a unified social credit code or an 18-character resident ID number, with a correct check character")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func pad(v, width int) string {
	s := strconv.Itoa(v)
	for len(s) < width {
		s = "0" + s
	}
	return s
}
