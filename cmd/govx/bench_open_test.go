package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
)

// TestBenchOpenCSVPinned pins the rows govx bench-open uploads, so runs
// before and after a change measure the same data.
func TestBenchOpenCSVPinned(t *testing.T) {
	h := sha256.New()
	if _, err := io.Copy(h, benchOpenCSV(2000)); err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), "1bf7b142fa8473e337dc8276b39dfcba550cbc6d8c68cf478620cfd322c96b29"; got != want {
		t.Errorf("bench rows changed: sha256 %s, want %s", got, want)
	}
}
