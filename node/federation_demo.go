package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx/adapters/population"
	"govx/casework"
	"govx/catalog"
	"govx/consent"
	"govx/federation"
	"govx/internal/auth"
	"govx/internal/postgres"
)

// DemoNode is one node of the federation demo.
type DemoNode struct {
	Name, Level string
	Parent      string // "" for the province
	Residents   int
	Adapters    []string
	Casework    bool
}

// DemoFederation is the federation demo: a province and two cities under
// it, each a whole node with its own database, Redis database, embedded
// broker and keys.
var DemoFederation = []DemoNode{
	{Name: "guangdong", Level: federation.LevelProvince, Residents: 300, Adapters: []string{"market-regulation"}},
	{Name: "dongguan", Level: federation.LevelCity, Parent: "guangdong", Residents: 400, Adapters: ReferenceAdapters, Casework: true},
	{Name: "guangzhou", Level: federation.LevelCity, Parent: "guangdong", Residents: 500, Adapters: ReferenceAdapters, Casework: true},
}

// DemoFederationCase is the case the demo resident's consent at Guangzhou
// is for: lookups state purpose "case:" + DemoFederationCase.
const DemoFederationCase = "demo-federation"

// Federation is a started federation demo.
type Federation struct {
	Nodes []*Node // in DemoFederation's order
	// Person is a Guangzhou resident whose household Dongguan's service
	// center may look up: Guangzhou granted it the fields and the resident
	// consented.
	Person string
	// Resource and Fields are what the demo grant covers.
	Resource string
	Fields   []string
	// Case is a cross-region case taken in at Dongguan's window for a new
	// food business licence Guangzhou decides, submitted to Guangzhou's
	// back office; nil if it could not be opened (CaseErr says why).
	Case    *casework.Case
	CaseErr error
}

// Node returns the started node called name, nil if there is none.
func (f *Federation) Node(name string) *Node {
	for _, n := range f.Nodes {
		if n.Federation.Name() == name {
			return n
		}
	}
	return nil
}

// Close stops every node, the cities first.
func (f *Federation) Close() error {
	var errs []error
	for i := len(f.Nodes) - 1; i >= 0; i-- {
		errs = append(errs, f.Nodes[i].Close())
	}
	return errors.Join(errs...)
}

// StartFederation starts the federation demo on one machine from base: each
// node gets a data folder under base.DataDir/federation/<name>, a database
// govx_<name> on base's PostgreSQL server, a Redis database of its own on
// base's Redis server, an embedded broker on base.KafkaPort+i and its API
// on base.HTTPAddr's port+i (port 0: any). The nodes are linked (the cities
// to the province as their parent), and Guangzhou grants Dongguan's service
// center its household register, which a Guangzhou resident consents to.
func StartFederation(ctx context.Context, base Config) (*Federation, error) {
	host, port, err := net.SplitHostPort(base.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("HTTP address %q: %w", base.HTTPAddr, err)
	}
	firstPort, _ := strconv.Atoi(port)
	redisURL, err := url.Parse(base.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("Redis URL: %w", err)
	}
	redisDB, _ := strconv.Atoi(redisURL.Path[min(1, len(redisURL.Path)):])
	f := &Federation{}
	for i, d := range DemoFederation {
		cfg := base
		cfg.DataDir = filepath.Join(base.DataDir, "federation", d.Name)
		if cfg.PostgresURL, err = postgres.EnsureDatabase(ctx, base.PostgresURL, "govx_"+d.Name); err != nil {
			f.Close()
			return nil, err
		}
		ru := *redisURL
		ru.Path = "/" + strconv.Itoa(redisDB+1+i)
		cfg.RedisURL, cfg.RedisPrefix = ru.String(), "govx:"+d.Name+":"
		cfg.EmbeddedKafka, cfg.KafkaBrokers = true, nil
		if base.KafkaPort != 0 {
			cfg.KafkaPort = base.KafkaPort + i
		}
		if firstPort != 0 {
			cfg.HTTPAddr = net.JoinHostPort(host, strconv.Itoa(firstPort+i))
		}
		cfg.Instance = d.Name
		if i > 0 {
			cfg.PprofAddr = "" // one process: the first node's profiles show all three
		}
		cfg.Migrate, cfg.Demo, cfg.Exchange = true, true, true
		cfg.Casework, cfg.Adapters, cfg.Residents = d.Casework, d.Adapters, d.Residents
		if d.Casework {
			cfg.CaseItems = demoCrossRegionItems(d.Name)
		}
		cfg.Logger = base.Logger.With("node", d.Name)
		cfg.Federation = FederationConfig{Name: d.Name, Level: d.Level, Refresh: 5 * time.Second}
		n := New(cfg)
		if _, err := n.Start(ctx); err != nil {
			f.Close()
			return nil, fmt.Errorf("node %s: %w", d.Name, err)
		}
		f.Nodes = append(f.Nodes, n)
	}
	for i, d := range DemoFederation {
		if d.Parent == "" {
			continue
		}
		child, parent := f.Nodes[i], f.Node(d.Parent)
		if err := errors.Join(
			child.Federation.Link(PeerOf(parent, federation.Parent)),
			parent.Federation.Link(PeerOf(child, federation.Child))); err != nil {
			f.Close()
			return nil, err
		}
	}
	for _, n := range f.Nodes {
		n.Federation.Refresh(ctx)
	}
	for _, n := range f.Nodes { // the province's view reaches the cities in a second round
		n.Federation.Refresh(ctx)
	}
	if err := f.seed(ctx); err != nil {
		f.Close()
		return nil, err
	}
	f.Case, f.CaseErr = f.seedCrossRegionCase(ctx)
	return f, nil
}

// seedCrossRegionCase takes in at Dongguan's window, the first time the
// demo runs, a new food business licence for a Dongguan company that
// Guangzhou's departments decide: verified at Dongguan and accepted, which
// submits it to Guangzhou. Later runs find it again.
func (f *Federation) seedCrossRegionCase(ctx context.Context) (*casework.Case, error) {
	dg := f.Node("dongguan")
	item := "food-business-new-guangzhou"
	existing, err := dg.Casework.List(ctx, demoWindowClerk, casework.Filter{Limit: 100})
	if err != nil {
		return nil, err
	}
	for i := range existing {
		if existing[i].Item == item {
			return dg.Casework.Get(ctx, demoWindowClerk, existing[i].ID)
		}
	}
	applicants, err := IntakeApplicants(DemoFederation[1].Residents, 1, time.Now())
	if err != nil {
		return nil, err
	}
	c, err := dg.Casework.Open(ctx, demoWindowClerk, casework.OpenInput{Item: item, Applicant: applicants[0].Party(),
		FormID: "demo-seed-cross-region"})
	if err != nil {
		return nil, err
	}
	// Registers just started may miss the first verification: the clerk
	// verifies again, as at a real window.
	for start := time.Now(); c.Material("company_registration").State == casework.Pending ||
		c.Material("representative_identity").State == casework.Pending; {
		if time.Since(start) > 30*time.Second {
			return c, fmt.Errorf("Dongguan's registers did not answer the verification of case %s", c.ID)
		}
		time.Sleep(500 * time.Millisecond)
		if c, err = dg.Casework.Verify(ctx, demoWindowClerk, c.ID, casework.ChangeInput{}); err != nil {
			return nil, err
		}
	}
	return dg.Casework.Accept(ctx, demoWindowClerk, c.ID, casework.ChangeInput{}, map[string]casework.Choice{
		"premises_proof": casework.ChoiceReceived, "layout_plan": casework.ChoiceReceived, "food_safety_rules": casework.ChoiceCommitment})
}

// PeerOf is n as a node linked to it as relation sees it.
func PeerOf(n *Node, relation string) federation.Peer {
	return federation.Peer{Name: n.Federation.Name(), Level: n.Federation.Level(), Relation: relation,
		URL: n.URL(), Key: n.NodeKey.Public}
}

// seed gives Dongguan's service center Guangzhou's household register
// (applied for and approved, as through the federation's grant API) and a
// Guangzhou resident's consent to it, unless an earlier run did.
func (f *Federation) seed(ctx context.Context) error {
	gz := f.Node("guangzhou")
	f.Resource, f.Fields = catalog.DemoHousehold, catalog.DemoHouseholdGranted
	f.Person = population.NewGenerator(DemoSeed).IDNumber(7)
	store := catalog.NewStore(gz.Pool)
	dept, err := store.PutRemoteDepartment(ctx, "dongguan", catalog.DeptServiceCenter)
	if err != nil {
		return err
	}
	grants := catalog.NewGrantStore(gz.Pool, nil)
	have, err := grants.Grants(ctx, catalog.GrantFilter{Resource: f.Resource, Consumer: dept, Status: catalog.GrantApproved, Limit: 1})
	if err != nil {
		return err
	}
	if len(have) == 0 {
		now := time.Now()
		g, err := grants.Apply(ctx, catalog.Actor{Subject: "dongguan:steward:service-center", Dept: dept}, catalog.Application{
			Resource: f.Resource, Fields: f.Fields, LegalBasis: "国务院办公厅关于加快推进“跨省通办”的指导意见",
			Purpose:   "Verify the household of applicants from Guangzhou at Dongguan's window (跨域通办)",
			ValidFrom: now.Format(time.DateOnly), ValidUntil: now.AddDate(1, 0, 0).Format(time.DateOnly)})
		if err != nil {
			return err
		}
		if _, err := grants.UpdateGrant(ctx, g.ID, func(g *catalog.Grant) error {
			return g.Approve(catalog.Actor{Subject: "guangzhou:steward:population", Dept: catalog.DeptPopulation}, catalog.Terms{}, now)
		}); err != nil {
			return err
		}
	}
	cs, err := gz.Consents.OfSubject(ctx, f.Person, 100)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Consumer == dept && c.CaseID == DemoFederationCase && c.Status == consent.Active {
			return nil
		}
	}
	resident := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: f.Person}, Role: consent.RoleCitizen}
	_, err = gz.Consents.Create(ctx, resident, consent.Request{Subject: f.Person, Consumer: dept, PurposeCode: "demo-federation",
		CaseID:  DemoFederationCase,
		Purpose: "Applications at Dongguan's window", ValidUntil: time.Now().AddDate(0, 6, 0),
		Items: []consent.Item{{Resource: f.Resource, Fields: f.Fields}}})
	return err
}

// demoCrossRegionItems are the service items of a city of the demo: the
// demo items, and a new food business licence that each other city's
// departments decide, taken in at this city's window.
func demoCrossRegionItems(city string) []casework.Item {
	items := casework.DemoItems()
	for _, d := range DemoFederation {
		if !d.Casework || d.Name == city {
			continue
		}
		for _, it := range casework.DemoItems() {
			if it.CrossRegion {
				items = append(items, casework.CrossRegionItem(it, d.Name))
			}
		}
	}
	return items
}
