package openapi_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/piprate/json-gold/ld"
)

const (
	dcatNS = "http://www.w3.org/ns/dcat#"
	dctNS  = "http://purl.org/dc/terms/"
	skosNS = "http://www.w3.org/2004/02/skos/core#"
)

// noRemote refuses to load anything: the catalogue's context is inline,
// and a test must not depend on the network.
type noRemote struct{}

func (noRemote) LoadDocument(u string) (*ld.RemoteDocument, error) {
	return nil, errors.New("remote document " + u + " not allowed")
}

// expandCatalog fetches the catalogue and expands it with a JSON-LD
// processor, returning the expanded dataset node with @id id.
func expandCatalog(t *testing.T, a *api, id string) map[string]any {
	t.Helper()
	r := a.do("GET", "/open/v1/catalog.jsonld", "/open/v1/catalog.jsonld", "", nil)
	if r.status != 200 {
		t.Fatalf("catalog = %d %s", r.status, r.body)
	}
	var doc any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	opts := ld.NewJsonLdOptions("")
	opts.DocumentLoader = noRemote{}
	expanded, err := ld.NewJsonLdProcessor().Expand(doc, opts)
	if err != nil {
		t.Fatalf("expanding the catalogue: %v\n%s", err, r.body)
	}
	if len(expanded) != 1 {
		t.Fatalf("expanded catalogue has %d top nodes: %v", len(expanded), expanded)
	}
	cat := expanded[0].(map[string]any)
	if types := iris(cat["@type"]); !slices.Contains(types, dcatNS+"Catalog") {
		t.Fatalf("catalogue @type = %v", types)
	}
	for _, d := range nodes(cat[dcatNS+"dataset"]) {
		if d["@id"] == a.url+"/open/v1/datasets/"+id {
			return d
		}
	}
	t.Fatalf("dataset %s not in the expanded catalogue: %v", id, cat)
	return nil
}

func nodes(v any) []map[string]any {
	var out []map[string]any
	for _, x := range asList(v) {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// iris are the @id of each node of v, or the strings of v (@type).
func iris(v any) []string {
	var out []string
	for _, x := range asList(v) {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			if id, ok := x["@id"].(string); ok {
				out = append(out, id)
			}
		}
	}
	return out
}

// labels are the language-tagged skos:prefLabel values of node, by
// language.
func labels(node map[string]any) map[string]string {
	out := map[string]string{}
	for _, l := range nodes(node[skosNS+"prefLabel"]) {
		lang, _ := l["@language"].(string)
		out[lang], _ = l["@value"].(string)
	}
	return out
}

func TestCatalogControlledVocabularies(t *testing.T) {
	a := newAPI(t)
	pub := a.token("environment", "steward")
	meta := `{"title":"Air quality","theme":"environment","licence":"CC-BY-4.0","frequency":"real-time","spatial":"Shenzhen"}`
	if r := a.do("PUT", "/open/v1/datasets/air", "/open/v1/datasets/{id}", pub, strings.NewReader(meta)); r.status/100 != 2 {
		t.Fatalf("put = %d %s", r.status, r.body)
	}
	if r := a.do("POST", "/open/v1/datasets/air/versions", "/open/v1/datasets/{id}/versions", pub, strings.NewReader(uploadCSV)); r.status != 201 {
		t.Fatalf("upload = %d %s", r.status, r.body)
	}
	// Values outside the vocabularies: a theme and a frequency the
	// catalogue does not know are left out, a licence and a place are
	// named resources, never bare strings.
	other := `{"title":"Odd","theme":"astrology","licence":"Our own terms","frequency":"whenever","spatial":"Atlantis"}`
	if r := a.do("PUT", "/open/v1/datasets/odd", "/open/v1/datasets/{id}", pub, strings.NewReader(other)); r.status/100 != 2 {
		t.Fatalf("put = %d %s", r.status, r.body)
	}

	d := expandCatalog(t, a, "air")
	for _, c := range []struct {
		property, iri, class, zh, en string
	}{
		{dcatNS + "theme", "http://publications.europa.eu/resource/authority/data-theme/ENVI", skosNS + "Concept", "环境", "Environment"},
		{dctNS + "license", "https://spdx.org/licenses/CC-BY-4.0", dctNS + "LicenseDocument", "知识共享署名 4.0 国际", "Creative Commons Attribution 4.0 International"},
		{dctNS + "accrualPeriodicity", "http://publications.europa.eu/resource/authority/frequency/CONT", dctNS + "Frequency", "实时", "continuous"},
		{dctNS + "spatial", "https://sws.geonames.org/1795565/", dctNS + "Location", "深圳市", "Shenzhen"},
	} {
		vs := nodes(d[c.property])
		if len(vs) != 1 || vs[0]["@id"] != c.iri {
			t.Errorf("%s = %v, want the resource %s", c.property, d[c.property], c.iri)
			continue
		}
		if !slices.Equal(iris(vs[0]["@type"]), []string{c.class}) {
			t.Errorf("%s is a %v, want a %s", c.property, vs[0]["@type"], c.class)
		}
		if l := labels(vs[0]); l["zh"] != c.zh || l["en"] != c.en {
			t.Errorf("%s labels = %v, want zh %q, en %q", c.property, l, c.zh, c.en)
		}
	}
	if m := nodes(d[dctNS+"modified"]); len(m) != 1 || m[0]["@type"] != "http://www.w3.org/2001/XMLSchema#dateTime" {
		t.Errorf("dct:modified = %v", d[dctNS+"modified"])
	}

	media := map[string][]string{}
	formats := map[string][]string{}
	conforms := map[string][]string{}
	for _, dist := range nodes(d[dcatNS+"distribution"]) {
		dl := iris(dist[dcatNS+"downloadURL"])
		if len(dl) != 1 {
			t.Fatalf("distribution without one download URL: %v", dist)
		}
		f := dl[0][strings.LastIndex(dl[0], "=")+1:]
		media[f], formats[f], conforms[f] = iris(dist[dcatNS+"mediaType"]), iris(dist[dctNS+"format"]), iris(dist[dctNS+"conformsTo"])
		for _, p := range []string{dcatNS + "mediaType", dctNS + "format"} {
			for _, v := range asList(dist[p]) {
				if _, isValue := v.(map[string]any)["@value"]; isValue {
					t.Errorf("%s of %s is a literal: %v", p, f, v)
				}
			}
		}
	}
	for f, want := range map[string][2]string{
		"csv":  {"https://www.iana.org/assignments/media-types/text/csv", "http://publications.europa.eu/resource/authority/file-type/CSV"},
		"json": {"https://www.iana.org/assignments/media-types/application/json", "http://publications.europa.eu/resource/authority/file-type/JSON"},
	} {
		if !slices.Equal(media[f], []string{want[0]}) || !slices.Equal(formats[f], []string{want[1]}) {
			t.Errorf("%s distribution: media type %v, format %v; want %s, %s", f, media[f], formats[f], want[0], want[1])
		}
	}
	if len(media["ndjson"]) != 0 || len(formats["ndjson"]) != 0 || !slices.Equal(conforms["ndjson"], []string{"https://github.com/ndjson/ndjson-spec"}) {
		t.Errorf("ndjson distribution: media type %v, format %v, conforms to %v", media["ndjson"], formats["ndjson"], conforms["ndjson"])
	}

	odd := expandCatalog(t, a, "odd")
	if odd[dcatNS+"theme"] != nil || odd[dctNS+"accrualPeriodicity"] != nil {
		t.Errorf("unknown theme or frequency served: %v %v", odd[dcatNS+"theme"], odd[dctNS+"accrualPeriodicity"])
	}
	for p, class := range map[string]string{dctNS + "license": dctNS + "LicenseDocument", dctNS + "spatial": dctNS + "Location"} {
		vs := nodes(odd[p])
		if len(vs) != 1 || !slices.Contains(iris(vs[0]["@type"]), class) {
			t.Errorf("%s = %v, want a %s", p, odd[p], class)
		}
	}
}
