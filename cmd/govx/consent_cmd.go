package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"govx/consent"
	"govx/node"
)

// runConsent is `govx consent verify`: an artefact checked offline against
// the consent service's published keys, as anyone holding one can.
func runConsent(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageError("govx consent verify --keys URL|FILE ARTEFACT|FILE|-")
	}
	fs := flag.NewFlagSet("consent verify", flag.ContinueOnError)
	keysAt := fs.String("keys", "http://"+cfg.HTTPAddr+"/v1/consents/keys", "the consent service's JWKS: a URL or a file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("govx consent verify --keys URL|FILE ARTEFACT|FILE|-")
	}
	jwks, err := readSource(ctx, *keysAt)
	if err != nil {
		return fmt.Errorf("reading the keys: %w", err)
	}
	keys, err := consent.ParseJWKS(jwks)
	if err != nil {
		return err
	}
	arg := fs.Arg(0)
	artefact := []byte(arg)
	if arg == "-" {
		artefact, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else if !strings.Contains(arg, ".") || fileExists(arg) {
		artefact, err = os.ReadFile(arg)
	}
	if err != nil {
		return err
	}
	a, err := consent.VerifyArtefact(strings.TrimSpace(string(artefact)), keys...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "consent %s: signature valid\n", a.ID)
	fmt.Fprintf(stdout, "  data subject  %s (%s)\n  consumer      %s\n", a.Subject, a.SubjectType, strings.Join(a.Audience, ", "))
	if a.CaseID != "" {
		fmt.Fprintf(stdout, "  case          %s\n", a.CaseID)
	}
	fmt.Fprintf(stdout, "  purpose       %s: %s\n  valid         %s to %s, %s\n", a.PurposeCode, a.Purpose,
		a.ValidFrom().Format(time.RFC3339), a.ValidUntil().Format(time.RFC3339), a.Fetch)
	items, _ := json.Marshal(a.Items)
	fmt.Fprintf(stdout, "  resources     %s\n", items)
	fmt.Fprintln(stdout, "(the artefact proves what was agreed; whether it still holds is its status: GET /v1/consents/"+a.ID+")")
	return nil
}

func readSource(ctx context.Context, src string) ([]byte, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		return os.ReadFile(src)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", src, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", src, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
