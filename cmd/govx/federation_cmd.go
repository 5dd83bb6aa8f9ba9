package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"govx/catalog"
	"govx/consent"
	"govx/exchange/ledger"
	"govx/federation"
	"govx/internal/auth"
	"govx/node"
)

// federationConfig reads the node's place in a federation from the
// environment: GOVX_NODE_NAME, GOVX_NODE_LEVEL and GOVX_FEDERATION_LINKS (a
// JSON file of the linked nodes, as `govx node-key` prints them).
func federationConfig() (node.FederationConfig, error) {
	fc := node.FederationConfig{Name: os.Getenv("GOVX_NODE_NAME"), Level: os.Getenv("GOVX_NODE_LEVEL")}
	if fc.Name == "" {
		if os.Getenv("GOVX_FEDERATION_LINKS") != "" {
			return fc, fmt.Errorf("GOVX_FEDERATION_LINKS is set but GOVX_NODE_NAME is not: name this node")
		}
		return fc, nil
	}
	if path := os.Getenv("GOVX_FEDERATION_LINKS"); path != "" {
		links, err := federation.ReadLinks(path)
		if err != nil {
			return fc, fmt.Errorf("GOVX_FEDERATION_LINKS: %w", err)
		}
		fc.Links = links
	}
	return fc, nil
}

// runNodeKey is `govx node-key`: this node's link entry — name, level, URL
// and the public half of its node key (made on first use) — to give the
// operators of the nodes it is linked to.
func runNodeKey(_ context.Context, cfg node.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("node-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	relation := fs.String("relation", federation.Child, "what this node is to the node the entry is for: parent, child or peer")
	public := fs.String("url", cfg.PublicURL, "where the other node reaches this node's API (GOVX_PUBLIC_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Federation.Name == "" || cfg.Federation.Level == "" {
		return usageError("GOVX_NODE_NAME=<name> GOVX_NODE_LEVEL=province|city|county govx node-key [--url URL] [--relation parent|child|peer]")
	}
	key, err := auth.LoadOrCreateKey(filepath.Join(cfg.DataDir, "keys", "node"))
	if err != nil {
		return err
	}
	if *public == "" {
		*public = "http://" + cfg.HTTPAddr
	}
	b, err := json.MarshalIndent(federation.Peer{Name: cfg.Federation.Name, Level: cfg.Federation.Level, Relation: *relation,
		URL: *public, Key: key.Public}, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", b)
	return nil
}

// runFederationUp is `govx up --federation`: a province and two cities on
// this machine, linked, with a banner of what to try.
func runFederationUp(ctx context.Context, cfg node.Config, stdout io.Writer) error {
	fed, err := node.StartFederation(ctx, cfg)
	if err != nil {
		return err
	}
	printFederationBanner(stdout, fed)
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	return fed.Close()
}

func printFederationBanner(w io.Writer, fed *node.Federation) {
	dg, gz := fed.Node("dongguan"), fed.Node("guangzhou")
	mint := func(n *node.Node, spec auth.TokenSpec) string {
		spec.Issuer, spec.Audience, spec.TTL = node.Issuer, node.Audience, bannerTokenTTL
		tok, err := n.Key.Mint(spec)
		if err != nil {
			return "(could not mint: " + err.Error() + ")"
		}
		return tok
	}
	fmt.Fprintf(w, "\ngovx federation is up: a province and two cities, each its own node.\n\n")
	for _, n := range fed.Nodes {
		fmt.Fprintf(w, "  %-10s %-9s %s   broker %s   database %s\n", n.Federation.Name(), n.Federation.Level(), n.URL(),
			n.Brokers[0], n.Pool.Config().ConnConfig.Database)
	}
	clerk := mint(dg, auth.TokenSpec{Subject: "clerk:dongguan-window", Dept: catalog.DeptServiceCenter, Role: consent.RoleClerk,
		Scopes: []string{fed.Resource}})
	fields, _ := json.Marshal(fed.Fields)
	fmt.Fprintf(w, `
A clerk at Dongguan's window (token valid %[1]s):
  TOKEN=%[2]s

Dongguan's federated catalogue: what the province and Guangzhou share with it
  curl -s -H "Authorization: Bearer $TOKEN" '%[3]s/v1/federation/resources?node=guangzhou'
  curl -s -H "Authorization: Bearer $TOKEN" %[3]s/v1/federation/nodes

A lookup at Dongguan of a Guangzhou household, routed Dongguan → Guangdong → Guangzhou.
Guangzhou decides it: its grant to dongguan/service-center, the resident's consent.
  curl -s -X POST %[3]s/v1/nodes/guangzhou/resources/%[4]s/query \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"key":"%[5]s","fields":%[6]s,"purpose":"case:demo-federation"}'

Both ledgers record it under the answer's request_id (role operator):
  curl -s -H "Authorization: Bearer %[7]s" '%[3]s/v1/audit?resource=%[4]s&limit=1'
  curl -s -H "Authorization: Bearer %[8]s" '%[9]s/v1/audit?resource=%[4]s&limit=1'
The resident's own view at Guangzhou names Dongguan's department:
  curl -s -H "Authorization: Bearer %[10]s" %[9]s/v1/subjects/%[5]s/accesses

%[12]s
Ctrl-C stops all three. More: docs/federation.md
`, bannerTokenTTL, clerk, dg.URL(), fed.Resource, fed.Person, fields,
		mint(dg, auth.TokenSpec{Subject: "operator", Role: ledger.RoleOperator}),
		mint(gz, auth.TokenSpec{Subject: "operator", Role: ledger.RoleOperator}), gz.URL(),
		mint(gz, auth.TokenSpec{Subject: fed.Person, Role: consent.RoleCitizen}), node.DemoFederationCase,
		crossRegionBanner(fed, dg, gz))
}

// crossRegionBanner tells where to follow the demo's cross-region case.
func crossRegionBanner(fed *node.Federation, dg, gz *node.Node) string {
	c := fed.Case
	if c == nil {
		return fmt.Sprintf("(The demo's cross-region case could not be opened: %v)\n", fed.CaseErr)
	}
	there := "not yet taken by Guangzhou (Dongguan submits it again by itself)"
	if c.Remote != nil && c.Remote.CaseID != "" {
		there = c.Remote.CaseID + " at Guangzhou"
	}
	return fmt.Sprintf(`A cross-region case (异地代收代办): Dongguan's window took in %s, a new food business
licence that Guangzhou's departments decide, for %s; it is %s.
  Dongguan's window   %[4]s/ui/cases/%[5]s   (one-click demo sign-in as the window clerk)
  Guangzhou's office  %[6]s/ui/   (sign in as the market-regulation reviewer, approve: Guangzhou issues the licence)
  at Dongguan again   curl -s -H "Authorization: Bearer $TOKEN" %[4]s/v1/cases/%[5]s
                      shows Guangzhou's decision and licence number; the clerk hands it out, and the
                      applicant follows it at %[4]s/ui/progress
`, c.ID, c.Applicant.Company, there, dg.URL(), c.ID, gz.URL())
}
