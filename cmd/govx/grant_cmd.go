package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"

	"govx/catalog"
	"govx/node"
)

const grantUsage = `Usage: govx grant <command> [flags]

  apply    --resource CODE --fields a,b --purpose TEXT --legal-basis TEXT --from YYYY-MM-DD --until YYYY-MM-DD
  approve  ID [--fields a,b] [--from YYYY-MM-DD] [--until YYYY-MM-DD]
  reject   ID --reason TEXT
  revoke   ID --reason TEXT
  list     [--status S] [--resource CODE] [--consumer DEPT]
  overdue  pending applications past their answer date (role supervisor)

Every command talks to the running exchange (--url, GOVX_URL; default
http://127.0.0.1:8080) with --token or GOVX_TOKEN, or else with a
development token minted for --dept with the local key (GOVX_DATA): role
service, steward with scope grant:decide for approve, reject and revoke,
supervisor for overdue (--role changes it).
`

// grantClient is the command line's side of the grants API.
type grantClient struct {
	api *apiClient
	out io.Writer
}

func runGrant(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stdout, grantUsage)
		return nil
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("grant "+cmd, flag.ContinueOnError)
	var f apiFlags
	role := "service"
	switch cmd {
	case "overdue":
		role = catalog.RoleSupervisor
	case "approve", "reject", "revoke":
		// Decisions need the provider's steward and the deciding scope.
		role, f.scopes = catalog.RoleSteward, []string{catalog.ScopeGrantDecide}
	}
	f.register(fs, cfg, role)
	var (
		resource, fields, purpose, basis, from, until, reason, status, consumer string
	)
	switch cmd {
	case "apply", "approve":
		fs.StringVar(&fields, "fields", "", "comma-separated field names")
		fs.StringVar(&from, "from", "", "first day of the period, YYYY-MM-DD")
		fs.StringVar(&until, "until", "", "last day of the period, YYYY-MM-DD")
		if cmd == "apply" {
			fs.StringVar(&resource, "resource", "", "resource code")
			fs.StringVar(&purpose, "purpose", "", "what the data is used for")
			fs.StringVar(&basis, "legal-basis", "", "the law or rule the use rests on")
		}
	case "reject", "revoke":
		fs.StringVar(&reason, "reason", "", "why")
	case "list":
		fs.StringVar(&status, "status", "", "pending, approved, rejected, revoked or expired")
		fs.StringVar(&resource, "resource", "", "resource code")
		fs.StringVar(&consumer, "consumer", "", "consumer department")
	case "overdue":
	default:
		return fmt.Errorf("unknown grant command %q\n%s", cmd, grantUsage)
	}
	// The id comes first (govx grant approve 12 --fields …); flags follow.
	var id string
	if cmd == "approve" || cmd == "reject" || cmd == "revoke" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return usageError("govx grant %s ID [flags]", cmd)
		}
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	api, err := newAPIClient(f)
	if err != nil {
		return err
	}
	c := &grantClient{api: api, out: stdout}
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	switch cmd {
	case "apply":
		return c.one(ctx, "POST", "", catalog.Application{Resource: resource, Fields: split(fields), Purpose: purpose,
			LegalBasis: basis, ValidFrom: from, ValidUntil: until})
	case "approve":
		return c.one(ctx, "POST", "/"+url.PathEscape(id)+"/approve", catalog.Terms{Fields: split(fields), ValidFrom: from, ValidUntil: until})
	case "reject", "revoke":
		return c.one(ctx, "POST", "/"+url.PathEscape(id)+"/"+cmd, map[string]string{"reason": reason})
	case "list":
		q := url.Values{}
		for k, v := range map[string]string{"status": status, "resource": resource, "consumer": consumer} {
			if v != "" {
				q.Set(k, v)
			}
		}
		path := ""
		if len(q) > 0 {
			path = "?" + q.Encode()
		}
		return c.list(ctx, path)
	default: // overdue
		return c.list(ctx, "/overdue")
	}
}

func (c *grantClient) do(ctx context.Context, method, path string, body any, out any) error {
	return c.api.doJSON(ctx, method, "/v1/catalog/grants"+path, body, out)
}

// one prints a single grant after a change.
func (c *grantClient) one(ctx context.Context, method, path string, body any) error {
	var g catalog.Grant
	if err := c.do(ctx, method, path, body, &g); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "grant %d: %s\n", g.ID, describe(&g))
	return nil
}

func describe(g *catalog.Grant) string {
	switch g.Status {
	case catalog.GrantPending:
		return fmt.Sprintf("pending — %s applies for %s [%s] %s..%s; %s answers by %s",
			g.Consumer, g.Resource, strings.Join(g.Fields, ","), g.ValidFrom, g.ValidUntil, g.Provider, g.DueBy)
	case catalog.GrantApproved:
		return fmt.Sprintf("approved — %s may read %s [%s] %s..%s", g.Consumer, g.Resource, strings.Join(g.GrantedFields, ","), g.GrantedFrom, g.GrantedUntil)
	default:
		s := fmt.Sprintf("%s — %s, %s", g.Status, g.Consumer, g.Resource)
		if g.Reason != "" {
			s += ": " + g.Reason
		}
		return s
	}
}

func (c *grantClient) list(ctx context.Context, path string) error {
	var out struct {
		Grants []catalog.Grant `json:"grants"`
	}
	if err := c.do(ctx, "GET", path, nil, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tRESOURCE\tPROVIDER\tCONSUMER\tFIELDS\tPERIOD\tDUE BY")
	for _, g := range out.Grants {
		fields, from, until := g.Fields, g.ValidFrom, g.ValidUntil
		if g.GrantedFrom != "" {
			fields, from, until = g.GrantedFields, g.GrantedFrom, g.GrantedUntil
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s..%s\t%s\n", g.ID, g.Status, g.Resource, g.Provider, g.Consumer,
			strings.Join(fields, ","), from, until, g.DueBy)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(out.Grants) == 0 {
		fmt.Fprintln(c.out, "(none)")
	}
	return nil
}
