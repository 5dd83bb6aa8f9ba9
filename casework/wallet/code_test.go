package wallet

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := newCode()
		if len(c) != codeLen || seen[c] {
			t.Fatalf("code %q (seen before: %v)", c, seen[c])
		}
		seen[c] = true
		if n, ok := NormaliseCode(" " + strings.ToLower(FormatCode(c)) + " "); !ok || n != c {
			t.Fatalf("%q reads back as %q, %v", FormatCode(c), n, ok)
		}
	}
	for in, want := range map[string]string{"olil0-abcde": "01110ABCDE", "RK6B2 FJMFQ": "RK6B2FJMFQ"} {
		if got, ok := NormaliseCode(in); !ok || got != want {
			t.Errorf("NormaliseCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "RK6B2-FJMF", "RK6B2-FJMFQQ", "RK6B2-FJMFU", "粤RK6B2FJMF", strings.Repeat("A", 41)} {
		if _, ok := NormaliseCode(bad); ok {
			t.Errorf("NormaliseCode(%q) is a code", bad)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"JY14403050000085":      "JY14*********085",
		"(粤)JZ安许证字[2021]000123": "(粤)J**************123",
		"1234567":               "*******",
	} {
		if got := MaskNumber(in); got != want {
			t.Errorf("MaskNumber(%q) = %q, want %q", in, got, want)
		}
	}
}

// The PDF is set in Latin script: a licence number's Chinese characters
// in pinyin, and the code and its link in the text.
func TestPDF(t *testing.T) {
	if got := latin("(粤)JZ安许证字[2021]000123"); got != "( Yue )JZ An Xu Zheng Zi [2021]000123" {
		t.Errorf("latin: %q", got)
	}
	card := &Card{Code: "RK6B2FJMFQ", VerifyURL: "/hall/verify/RK6B2FJMFQ", Type: "food-business", Number: "JY14403050000085",
		AuthCode: "11440305MB2C1234X1", IssueDate: "2024-05-21", ValidFrom: "2024-05-21", ValidUntil: "2029-05-20",
		Status: "valid", Seal: SealValid, holderCode: "110101199003074477"}
	var buf bytes.Buffer
	if err := PDF(&buf, card, "https://hall.example.gov.cn", time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for _, want := range []string{"%PDF-", "RK6B2-FJMFQ", "https://hall.example.gov.cn/hall/verify/RK6B2FJMFQ", "Food business licence", "110*************77"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
	if bytes.Contains(b, []byte("110101199003074477")) {
		t.Error("the PDF shows the holder's ID number in full")
	}
}
