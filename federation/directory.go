package federation

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"govx"
	"govx/catalog"
)

// maxHops is how many links a query may cross from the asking node to the
// holding one (county → city → province → city → county is four).
const maxHops = 4

// Resource is a resource of another node as this node's federated
// catalogue lists it: where it lives (Node, Level), what it shares and on
// which conditions, and how this node reaches it (Via, the linked node a
// query goes to first, and Hops, the links it crosses).
type Resource struct {
	Node            string          `json:"node"`
	Level           string          `json:"level"`
	Code            string          `json:"code"`
	Name            string          `json:"name"`
	Provider        string          `json:"provider"`
	ProviderName    string          `json:"provider_name,omitempty"`
	Summary         string          `json:"summary,omitempty"`
	KeyType         string          `json:"key_type"`
	Fields          []catalog.Field `json:"fields"`
	Sharing         catalog.Sharing `json:"sharing"`
	Conditions      string          `json:"conditions,omitempty"`
	Methods         []string        `json:"methods,omitempty"`
	LegalBasis      string          `json:"legal_basis,omitempty"`
	ConsentRequired bool            `json:"consent_required"`
	Version         int             `json:"version,omitempty"`
	Hops            int             `json:"hops"`
	Via             string          `json:"via,omitempty"`
}

// listing is what a node offers a linked node: its own shared resources
// and those it reaches, one link further.
type listing struct {
	Node      string     `json:"node"`
	Level     string     `json:"level"`
	Resources []Resource `json:"resources"`
}

// local lists this node's own shared resources: active, and not of the
// not-shareable class.
func (f *Federation) local(ctx context.Context) ([]Resource, error) {
	var out []Resource
	cursor := ""
	for {
		page, err := f.cfg.Catalogue.SearchResources(ctx, catalog.SearchQuery{Limit: catalog.MaxSearchLimit, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, r := range page.Resources {
			if r.Sharing == catalog.NotShareable {
				continue
			}
			out = append(out, Resource{Node: f.cfg.Name, Level: f.cfg.Level, Code: r.Code, Name: r.Name,
				Provider: r.Provider, ProviderName: r.ProviderName, Summary: r.Summary, KeyType: r.KeyType,
				Fields: r.Fields, Sharing: r.Sharing, Conditions: r.Conditions, Methods: r.Methods,
				LegalBasis: r.LegalBasis, ConsentRequired: r.ConsentRequired, Version: r.Version})
		}
		if page.Next == "" {
			return out, nil
		}
		cursor = page.Next
	}
}

// offer is what this node lists to the linked node to: its own shared
// resources (those it maps the link to, when the link names them) and
// what it reaches through its other links, never what to holds itself.
func (f *Federation) offer(ctx context.Context, to *Peer) (*listing, error) {
	own, err := f.local(ctx)
	if err != nil {
		return nil, err
	}
	out := &listing{Node: f.cfg.Name, Level: f.cfg.Level, Resources: []Resource{}}
	for _, r := range own {
		if len(to.Resources) == 0 || slices.Contains(to.Resources, r.Code) {
			out.Resources = append(out.Resources, r)
		}
	}
	for _, r := range f.View() {
		if r.Node != to.Name && r.Via != to.Name && r.Hops < maxHops {
			r.Via = ""
			out.Resources = append(out.Resources, r)
		}
	}
	return out, nil
}

// Refresh reads every linked node's catalogue once. A node that does not
// answer keeps what it offered last.
func (f *Federation) Refresh(ctx context.Context) {
	f.mu.RLock()
	links := slices.Clone(f.links)
	f.mu.RUnlock()
	for _, l := range links {
		cctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
		var got listing
		err := f.call(cctx, &l.Peer, http.MethodGet, "/federation/v1/resources", nil, &got)
		cancel()
		now := f.cfg.Now().UTC()
		f.mu.Lock()
		l.status.CheckedAt = now
		if err != nil {
			if l.status.Up || l.status.Error == "" {
				f.log.Warn("node link: catalogue not read", "peer", l.Name, "err", err)
			}
			l.status.Up, l.status.Error = false, govx.ErrorCode(err)
		} else {
			rs := got.Resources[:0]
			for _, r := range got.Resources {
				// A node vouches only for its own resources at their own
				// place; what it relays came one link further.
				if r.Node == f.cfg.Name || (r.Node == l.Name) != (r.Hops == 0) {
					continue
				}
				if r.Node == l.Name {
					r.Level = l.Level
				}
				r.Hops++
				r.Via = l.Name
				rs = append(rs, r)
			}
			l.resources, l.status.Up, l.status.Error, l.status.ReadAt = rs, true, "", now
			f.view = nil
		}
		f.mu.Unlock()
	}
}

// View is this node's federated catalogue: every resource of another node
// it may use, each once, by the shortest way there. It is worked out again
// only when a link or what it offers changes: queries route through it.
// The slice is shared; callers do not modify it.
func (f *Federation) View() []Resource {
	f.mu.RLock()
	v := f.view
	f.mu.RUnlock()
	if v != nil {
		return v
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.view == nil {
		f.view = f.buildView()
	}
	return f.view
}

// buildView works the view out; f.mu is held.
func (f *Federation) buildView() []Resource {
	best := map[string]Resource{}
	for _, l := range f.links {
		for _, r := range l.resources {
			k := r.Node + "\x00" + r.Code
			if b, ok := best[k]; !ok || r.Hops < b.Hops || (r.Hops == b.Hops && r.Via < b.Via) {
				best[k] = r
			}
		}
	}
	out := make([]Resource, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Resource) int {
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return strings.Compare(a.Code, b.Code)
	})
	return out
}

// route returns the resource code of node and the linked node a query
// for it goes to: NotFound node_not_found when no link leads to node,
// resource_not_found when node offers no such resource.
func (f *Federation) route(node, code string) (*Resource, *Peer, error) {
	known := false
	for _, r := range f.View() {
		if r.Node != node {
			continue
		}
		known = true
		if r.Code == code {
			p := f.peer(r.Via)
			if p == nil {
				break
			}
			return &r, p, nil
		}
	}
	if !known {
		if p := f.peer(node); p != nil {
			// Linked, but its catalogue was never read: ask it all the
			// same, and let it answer.
			return &Resource{Node: node, Level: p.Level, Code: code, Via: node, Hops: 1}, p, nil
		}
		return nil, nil, govx.Errorf(govx.KindNotFound, "node_not_found", "no node %q in this node's federation", node)
	}
	return nil, nil, govx.Errorf(govx.KindNotFound, "resource_not_found", "node %s shares no resource %q with this node", node, code)
}

// Node is a node of the federation as the nodes API lists it.
type Node struct {
	Name     string     `json:"name"`
	Level    string     `json:"level"`
	Relation string     `json:"relation,omitempty"` // to this node; "" for this node itself
	URL      string     `json:"url,omitempty"`
	Key      string     `json:"key_id,omitempty"` // the node key's thumbprint
	Status   linkStatus `json:"status"`
}

// nodes lists this node and its links, with their status.
func (f *Federation) nodes() []Node {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := []Node{{Name: f.cfg.Name, Level: f.cfg.Level, Key: f.cfg.Key.ID, Status: linkStatus{Up: true}}}
	for _, l := range f.links {
		out = append(out, Node{Name: l.Name, Level: l.Level, Relation: l.Relation, URL: l.URL,
			Key: thumbprint(l.Key), Status: l.status})
	}
	return out
}

// ResourceFilter selects resources of the federated catalogue.
type ResourceFilter struct {
	Node  string
	Level string
	Text  string // in the code, name or summary, case-insensitive
}

// Search returns the resources of the federated catalogue that match.
func (f *Federation) Search(q ResourceFilter) []Resource {
	text := strings.ToLower(q.Text)
	out := []Resource{}
	for _, r := range f.View() {
		if (q.Node == "" || r.Node == q.Node) && (q.Level == "" || r.Level == q.Level) &&
			(text == "" || strings.Contains(strings.ToLower(r.Code), text) || strings.Contains(strings.ToLower(r.Name), text) ||
				strings.Contains(strings.ToLower(r.Summary), text)) {
			out = append(out, r)
		}
	}
	return out
}

// ReadAt is when the catalogue of linked node name was last read; zero if
// never.
func (f *Federation) ReadAt(name string) time.Time {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, l := range f.links {
		if l.Name == name {
			return l.status.ReadAt
		}
	}
	return time.Time{}
}
