package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"govx/catalog"
	"govx/node"
)

const catalogUsage = `Usage: govx catalog <command> [flags]

Commands:
  search [--q WORD] [--provider DEPT] [--sharing S] [--open-class C]
         [--status active|retired|all] [--limit N] [--cursor C]
  show CODE                       a resource with all its metadata (JSON)
  versions CODE                   every version: who, when, what
  register [--file F]             register the resource in F (JSON; stdin without --file)
  update CODE [--file F] [--version N]
                                  replace its metadata; --version is the one you saw
  retire CODE [--version N]
  departments                     list departments
  departments CODE                one department
  departments put CODE --name N [--contact C]   (role admin)

Flags every command takes:
  --url URL      exchange API (GOVX_URL, default http://127.0.0.1:8080)
  --token T      bearer token (GOVX_TOKEN); without one a development token
                 is minted for --dept and --role with the local key in --data
  --dept D       department of the minted token (service-center)
  --role R       role of the minted token (service; steward, with scope
                 catalog:write, for register, update and retire; admin for
                 departments put)
  --data DIR     data folder holding the signing key (GOVX_DATA, .govx)
  --json         print the API's JSON answer as it is
`

// catalogFlags are the flags every catalog command takes.
type catalogFlags struct {
	apiFlags
	json bool
}

func (f *catalogFlags) register(fs *flag.FlagSet, cfg node.Config, role string) {
	f.apiFlags.register(fs, cfg, role)
	fs.BoolVar(&f.json, "json", false, "print the JSON answer as it is")
}

// parseArgs parses flags wherever they stand among the positional
// arguments (govx catalog show CODE --dept x) and returns the positional
// ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func runCatalog(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	return catalogCommand(ctx, cfg, args, os.Stdin, stdout)
}

func catalogCommand(ctx context.Context, cfg node.Config, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, catalogUsage)
		return nil
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("catalog "+cmd, flag.ContinueOnError)
	var f catalogFlags
	role := "service"
	switch {
	case cmd == "departments" && len(args) > 0 && args[0] == "put":
		role = catalog.RoleAdmin
	case cmd == "register" || cmd == "update" || cmd == "retire":
		// Changes need the department's steward and the write scope.
		role, f.scopes = catalog.RoleSteward, []string{catalog.ScopeCatalogWrite}
	}
	f.register(fs, cfg, role)
	var (
		search  catalog.SearchQuery
		file    string
		version int
		name    string
		contact string
	)
	switch cmd {
	case "search":
		fs.StringVar(&search.Text, "q", "", "keyword in code, name, summary or field names")
		fs.StringVar(&search.Provider, "provider", "", "provider department code")
		fs.StringVar((*string)(&search.Sharing), "sharing", "", "unconditional, conditional or not_shareable")
		fs.StringVar((*string)(&search.OpenClass), "open-class", "", "open, conditionally_open or not_open")
		fs.StringVar(&search.Status, "status", "", "active (default), retired or all")
		fs.IntVar(&search.Limit, "limit", 0, "results per page, 1–100 (20)")
		fs.StringVar(&search.Cursor, "cursor", "", "next page: the cursor the page before printed")
	case "register", "update":
		fs.StringVar(&file, "file", "", "resource JSON file; - or none reads stdin")
	case "departments":
		fs.StringVar(&name, "name", "", "department name (put)")
		fs.StringVar(&contact, "contact", "", "department contact (put)")
	case "show", "versions", "retire":
	default:
		return fmt.Errorf("unknown catalog command %q\n\n%s", cmd, catalogUsage)
	}
	if cmd == "update" || cmd == "retire" {
		fs.IntVar(&version, "version", 0, "the version you saw: refused with version_conflict if it is no longer current")
	}
	fs.SetOutput(io.Discard)
	pos, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, catalogUsage)
			return nil
		}
		return fmt.Errorf("catalog %s: %w", cmd, err)
	}
	wantArgs := map[string]int{"search": 0, "register": 0, "show": 1, "versions": 1, "update": 1, "retire": 1}
	if n, ok := wantArgs[cmd]; ok && len(pos) != n {
		return usageError("govx catalog %s%s", cmd, map[bool]string{true: " CODE", false: ""}[n == 1])
	}
	c, err := newAPIClient(f.apiFlags)
	if err != nil {
		return err
	}
	resourcePath := func(code string, more ...string) string {
		return "/v1/catalog/resources/" + url.PathEscape(code) + strings.Join(more, "")
	}
	ifMatch := func() []string {
		if version > 0 {
			return []string{"If-Match", strconv.Quote(strconv.Itoa(version))}
		}
		return nil
	}

	var body []byte
	switch cmd {
	case "search":
		q := url.Values{}
		for k, v := range map[string]string{"q": search.Text, "provider": search.Provider, "sharing": string(search.Sharing),
			"open_class": string(search.OpenClass), "status": search.Status, "cursor": search.Cursor} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if search.Limit != 0 {
			q.Set("limit", strconv.Itoa(search.Limit))
		}
		path := "/v1/catalog/resources"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		if body, err = c.do(ctx, "GET", path, nil); err != nil {
			return err
		}
		if f.json {
			break
		}
		var res catalog.SearchResult
		if err := json.Unmarshal(body, &res); err != nil {
			return err
		}
		printResources(stdout, &res)
		return nil
	case "show":
		body, err = c.do(ctx, "GET", resourcePath(pos[0]), nil)
	case "versions":
		if body, err = c.do(ctx, "GET", resourcePath(pos[0], "/versions"), nil); err != nil || f.json {
			break
		}
		var vs struct {
			Versions []catalog.ResourceVersion `json:"versions"`
		}
		if err := json.Unmarshal(body, &vs); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tACTION\tAT\tBY\tDEPT\tSTATUS")
		for _, v := range vs.Versions {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Version, v.Action, v.At.Format(time.RFC3339), v.Actor.Subject, v.Actor.Dept, v.Resource.Status)
		}
		return tw.Flush()
	case "register", "update":
		in, err := readResourceFile(file, stdin)
		if err != nil {
			return err
		}
		if cmd == "register" {
			body, err = c.do(ctx, "POST", "/v1/catalog/resources", in)
		} else {
			body, err = c.do(ctx, "PUT", resourcePath(pos[0]), in, ifMatch()...)
		}
		if err != nil {
			return err
		}
	case "retire":
		body, err = c.do(ctx, "POST", resourcePath(pos[0], "/retire"), nil, ifMatch()...)
	case "departments":
		switch {
		case len(pos) == 0:
			if body, err = c.do(ctx, "GET", "/v1/catalog/departments", nil); err != nil || f.json {
				break
			}
			var ds struct {
				Departments []catalog.Department `json:"departments"`
			}
			if err := json.Unmarshal(body, &ds); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CODE\tNAME\tCONTACT")
			for _, d := range ds.Departments {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Code, d.Name, d.Contact)
			}
			return tw.Flush()
		case len(pos) == 1:
			body, err = c.do(ctx, "GET", "/v1/catalog/departments/"+url.PathEscape(pos[0]), nil)
		case len(pos) == 2 && pos[0] == "put":
			in, _ := json.Marshal(catalog.Department{Name: name, Contact: contact})
			body, err = c.do(ctx, "PUT", "/v1/catalog/departments/"+url.PathEscape(pos[1]), in)
		default:
			return usageError("govx catalog departments [CODE | put CODE --name N [--contact C]]")
		}
	}
	if err != nil {
		return err
	}
	return printJSON(stdout, body)
}

// readResourceFile reads the resource JSON of register and update.
func readResourceFile(file string, stdin io.Reader) ([]byte, error) {
	const max = catalog.DefaultMaxBody
	var r io.Reader = stdin
	if file != "" && file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	if r == nil {
		return nil, fmt.Errorf("no --file and no standard input")
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("the resource file is larger than %d bytes", max)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("the resource JSON is empty (give --file or pipe it in)")
	}
	return b, nil
}

func printJSON(w io.Writer, body []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		_, err = w.Write(body)
		return err
	}
	out.WriteByte('\n')
	_, err := out.WriteTo(w)
	return err
}

func printResources(w io.Writer, res *catalog.SearchResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CODE\tVERSION\tSTATUS\tSHARING\tOPEN CLASS\tPROVIDER\tNAME")
	for _, r := range res.Resources {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.Code, r.Version, r.Status, r.Sharing, r.OpenClass, r.Provider, r.Name)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d of %d\n", len(res.Resources), res.Total)
	if res.Next != "" {
		fmt.Fprintf(w, "next page: --cursor %s\n", res.Next)
	}
}
