package govx_test

import (
	"testing"

	"govx"
)

// Codes published by the companies themselves (on their business
// licences), so the check character is checked against the standard, not
// against this implementation.
var knownUSCCs = []string{
	"91350100M000100Y43", // widely cited sample in GB 32100 guidance
	"91110000802100433B", // Bank of China
	"91440300708461136T", // Tencent (Shenzhen)
}

func TestValidateUSCCKnown(t *testing.T) {
	for _, c := range knownUSCCs {
		if err := govx.ValidateUSCC(c); err != nil {
			t.Errorf("ValidateUSCC(%s) = %v", c, err)
		}
	}
}

func TestValidateUSCCRejects(t *testing.T) {
	for name, c := range map[string]string{
		"empty":            "",
		"short":            "91350100M000100Y4",
		"long":             "91350100M000100Y433",
		"wrong check":      "91350100M000100Y44",
		"lower case":       "91350100m000100y43",
		"letter I":         "91350100I000100Y43",
		"division letter":  "9135A100M000100Y43",
		"check not in set": "91350100M000100Y4Z",
		"multibyte":        "9135010０M000100Y4",
	} {
		err := govx.ValidateUSCC(c)
		if err == nil {
			t.Errorf("%s: ValidateUSCC(%q) = nil", name, c)
			continue
		}
		if govx.ErrorKind(err) != govx.KindInvalid || govx.ErrorCode(err) != "invalid_uscc" {
			t.Errorf("%s: kind %v code %s", name, govx.ErrorKind(err), govx.ErrorCode(err))
		}
	}
}

func TestUSCCCheckCharCompletes(t *testing.T) {
	for _, c := range knownUSCCs {
		got, err := govx.USCCCheckChar(c[:17])
		if err != nil || got != c[17] {
			t.Errorf("USCCCheckChar(%s) = %q, %v; want %q", c[:17], got, err, c[17])
		}
	}
}

func TestOrgCodeCheckChar(t *testing.T) {
	// The organisation code inside a USCC carries its own GB 11714 check.
	for _, c := range []string{"91110000802100433B", "91440300708461136T"} {
		got, err := govx.OrgCodeCheckChar(c[8:16])
		if err != nil || got != c[16] {
			t.Errorf("OrgCodeCheckChar(%s) = %q, %v; want %q", c[8:16], got, err, c[16])
		}
	}
}

func FuzzValidateUSCC(f *testing.F) {
	for _, c := range knownUSCCs {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := govx.ValidateUSCC(s)
		if err == nil {
			if len(s) != 18 {
				t.Fatalf("accepted %q of length %d", s, len(s))
			}
			c, _ := govx.USCCCheckChar(s[:17])
			if c != s[17] {
				t.Fatalf("accepted %q with a wrong check character", s)
			}
		}
	})
}

func BenchmarkValidateUSCC(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := govx.ValidateUSCC(knownUSCCs[0]); err != nil {
			b.Fatal(err)
		}
	}
}
