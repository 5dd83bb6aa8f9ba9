package govx_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"govx"
)

// Valid numbers, each computed independently of the code under test. The
// first two are the worked examples of GB 11643-1999 itself.
var validIDNumbers = []string{
	"11010519491231002X", // GB 11643 example, Beijing Chaoyang, 1949-12-31, female
	"440524188001010014", // GB 11643 example, Guangdong Shantou, 1880-01-01, male
	"310115199003071239", // Shanghai Pudong, male
	"65010219850615234X", // Urumqi Tianshan, female
	"540102200002290014", // Lhasa Chengguan, born on a leap day of a century year divisible by 400
	"110101200812319994", // sequence 999
	"440305199912310003", // sequence 000, check digit 3
	"11010119491001001X",
}

func TestValidateIDNumberAccepts(t *testing.T) {
	// Born today in Beijing: valid, even while it is still yesterday in UTC.
	bornToday := mustComplete(t, "110101"+time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")+"002")
	for _, id := range append(validIDNumbers, bornToday) {
		t.Run(id, func(t *testing.T) {
			if err := govx.ValidateIDNumber(id); err != nil {
				t.Fatalf("ValidateIDNumber(%q) = %v, want nil", id, err)
			}
		})
	}
}

func TestValidateIDNumberRejects(t *testing.T) {
	tomorrow := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, 1)
	future := mustComplete(t, "110101"+tomorrow.Format("20060102")+"001")

	tests := []struct {
		name, id, message string
	}{
		{"empty", "", "ID number must have 18 characters, got 0"},
		{"first generation 15 digits", "110105491231002", "ID number must have 18 characters, got 15"},
		{"17 characters", "11010519491231002", "ID number must have 18 characters, got 17"},
		{"19 characters", "11010519491231002XX", "ID number must have 18 characters, got 19"},
		{"length counted in characters", "一二三", "ID number must have 18 characters, got 3"},
		{"letter in body", "1101051949123100AX", "ID number character 17 must be a digit"},
		{"space in front", " 1010519491231002X", "ID number character 1 must be a digit"},
		{"hyphen in date", "110105-949123002X7", "ID number character 7 must be a digit"},
		{"lowercase x", "11010519491231002x", "ID number check character must be an uppercase X, not a lowercase x"},
		{"bad last char", "11010519491231002Y", "ID number character 18 must be a digit or an uppercase X"},
		{"month 00", mustComplete(t, "11010519490031002"), "ID number birth date has month 00, which does not exist"},
		{"month 13", mustComplete(t, "11010519491331002"), "ID number birth date has month 13, which does not exist"},
		{"day 00", mustComplete(t, "11010519491200002"), "ID number birth date has day 00 in month 12 of 1949, which does not exist"},
		{"31 April", mustComplete(t, "11010519490431002"), "ID number birth date has day 31 in month 04 of 1949, which does not exist"},
		{"29 Feb of a common year", mustComplete(t, "11010519490229002"), "ID number birth date has day 29 in month 02 of 1949, which does not exist"},
		{"29 Feb 1900", mustComplete(t, "11010519000229002"), "ID number birth date has day 29 in month 02 of 1900, which does not exist"},
		{"year 1799", mustComplete(t, "11010517991231002"), "ID number birth year 1799 is before 1800"},
		{"born tomorrow", future, "ID number birth date is in the future"},
		{"wrong check digit", "110105194912310021", "ID number check character is 1, expected X"},
		{"X where a digit belongs", "31011519900307123X", "ID number check character is X, expected 9"},
		{"transposed digits", "11001519491231002X", "ID number check character is X, expected 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := govx.ValidateIDNumber(tt.id)
			var ge *govx.Error
			if !errors.As(err, &ge) {
				t.Fatalf("ValidateIDNumber(%q) = %v, want *govx.Error", tt.id, err)
			}
			if ge.Kind != govx.KindInvalid || ge.Code != "invalid_id_number" {
				t.Errorf("kind, code = %v, %q; want Invalid, invalid_id_number", ge.Kind, ge.Code)
			}
			if ge.Message != tt.message {
				t.Errorf("message = %q\n             want %q", ge.Message, tt.message)
			}
			if len(tt.id) >= 6 && strings.Contains(ge.Error(), tt.id) {
				t.Errorf("error %q repeats the ID number", ge.Error())
			}
		})
	}
}

// The full-width case above must really be 18 characters of more than 18 bytes.
func TestFullWidthFixture(t *testing.T) {
	s := "１１０１０５１９４９１２３１００２Ｘ"
	if got := len([]rune(s)); got != 18 || len(s) == 18 {
		t.Fatalf("fixture has %d runes, %d bytes", got, len(s))
	}
	err := govx.ValidateIDNumber(s)
	if govx.ErrorCode(err) != "invalid_id_number" || !strings.Contains(govx.ErrorMessage(err), "non-ASCII") {
		t.Fatalf("ValidateIDNumber(full width) = %v", err)
	}
}

func TestIDNumberCheckChar(t *testing.T) {
	for _, id := range validIDNumbers {
		got, err := govx.IDNumberCheckChar(id[:17])
		if err != nil {
			t.Fatalf("IDNumberCheckChar(%q): %v", id[:17], err)
		}
		if got != id[17] {
			t.Errorf("IDNumberCheckChar(%q) = %c, want %c", id[:17], got, id[17])
		}
	}
	for _, bad := range []string{"", "1101051949123100", "110105194912310023", "1101051949123100a"} {
		_, err := govx.IDNumberCheckChar(bad)
		if govx.ErrorKind(err) != govx.KindInvalid || govx.ErrorCode(err) != "invalid_id_number" {
			t.Errorf("IDNumberCheckChar(%q) error = %v, want Invalid invalid_id_number", bad, err)
		}
	}
}

// Every one of the eleven check characters occurs, and changing any single
// digit of a valid number makes it invalid (MOD 11-2 detects all single
// substitutions).
func TestIDNumberCheckCharDetectsSubstitutions(t *testing.T) {
	seen := map[byte]bool{}
	for seq := 0; seq < 200; seq++ {
		body := fmt.Sprintf("42010619850615%03d", seq)
		c, err := govx.IDNumberCheckChar(body)
		if err != nil {
			t.Fatal(err)
		}
		seen[c] = true
		id := body + string(c)
		if err := govx.ValidateIDNumber(id); err != nil {
			t.Fatalf("ValidateIDNumber(%q) = %v", id, err)
		}
		for pos := 0; pos < 17; pos++ {
			if pos >= 6 && pos < 14 {
				continue // the date digits may turn the date impossible, a different rejection
			}
			for d := byte('0'); d <= '9'; d++ {
				if d == id[pos] {
					continue
				}
				mutated := id[:pos] + string(d) + id[pos+1:]
				if govx.ValidateIDNumber(mutated) == nil {
					t.Fatalf("ValidateIDNumber(%q) accepted a single-digit change of %q", mutated, id)
				}
			}
		}
	}
	if len(seen) != 11 {
		t.Errorf("saw %d distinct check characters, want 11", len(seen))
	}
}

func TestValidateIDNumberDoesNotAllocate(t *testing.T) {
	id := validIDNumbers[0]
	if n := testing.AllocsPerRun(1000, func() {
		if govx.ValidateIDNumber(id) != nil {
			t.Fatal("rejected")
		}
	}); n != 0 {
		t.Errorf("ValidateIDNumber allocates %v times per call, want 0", n)
	}
}

func BenchmarkValidateIDNumber(b *testing.B) {
	id := validIDNumbers[0]
	b.ReportAllocs()
	for b.Loop() {
		if govx.ValidateIDNumber(id) != nil {
			b.Fatal("rejected")
		}
	}
}

func FuzzValidateIDNumber(f *testing.F) {
	for _, id := range validIDNumbers {
		f.Add(id)
	}
	for _, s := range []string{"", "11010519491231002x", "110105194902290021", "１１０１０５１９４９１２３１００２Ｘ", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := govx.ValidateIDNumber(s)
		if err != nil {
			var ge *govx.Error
			if !errors.As(err, &ge) || ge.Kind != govx.KindInvalid || ge.Code != "invalid_id_number" || ge.Message == "" {
				t.Fatalf("ValidateIDNumber(%q) = %#v, want an Invalid *govx.Error with a message", s, err)
			}
			return
		}
		if len(s) != 18 {
			t.Fatalf("accepted %q of length %d", s, len(s))
		}
		c, err := govx.IDNumberCheckChar(s[:17])
		if err != nil {
			t.Fatalf("accepted %q but IDNumberCheckChar fails: %v", s, err)
		}
		if c != s[17] {
			t.Fatalf("accepted %q with check char %c, want %c", s, s[17], c)
		}
		if _, err := time.Parse("20060102", s[6:14]); err != nil {
			t.Fatalf("accepted %q with impossible birth date: %v", s, err)
		}
	})
}

// mustComplete appends the right check character to 17 digits.
func mustComplete(tb testing.TB, first17 string) string {
	tb.Helper()
	c, err := govx.IDNumberCheckChar(first17)
	if err != nil {
		tb.Fatalf("IDNumberCheckChar(%q): %v", first17, err)
	}
	return first17 + string(c)
}
