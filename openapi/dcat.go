package openapi

import (
	"net/http"
	"strconv"
)

// catalog answers the whole catalogue as DCAT in JSON-LD: a dcat:Catalog
// of dcat:Dataset, each with its dcat:Distribution per format.
func (h *handler) catalog(w http.ResponseWriter, r *http.Request) {
	base := "http://" + r.Host
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		base = "https://" + r.Host
	}
	var datasets []map[string]any
	for offset := 0; ; offset += 100 {
		res, err := h.s.Search(r.Context(), SearchQuery{Limit: 100, Offset: offset})
		if err != nil {
			h.fail(w, err)
			return
		}
		for _, d := range res.Datasets {
			datasets = append(datasets, dcatDataset(base, d))
		}
		if offset+100 >= res.Total {
			break
		}
	}
	if datasets == nil {
		datasets = []map[string]any{}
	}
	doc := map[string]any{
		"@context": map[string]any{
			"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
			"foaf": "http://xmlns.com/foaf/0.1/", "xsd": "http://www.w3.org/2001/XMLSchema#",
			"skos": "http://www.w3.org/2004/02/skos/core#",
		},
		"@id":          base + Prefix + "catalog.jsonld",
		"@type":        "dcat:Catalog",
		"dct:title":    "govx open data",
		"dcat:dataset": datasets,
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Type", "application/ld+json; charset=utf-8")
	writeJSONBody(w, doc)
}

func dcatDataset(base string, d *Dataset) map[string]any {
	url := base + Prefix + "datasets/" + d.ID
	out := map[string]any{
		"@id":             url,
		"@type":           "dcat:Dataset",
		"dct:identifier":  d.ID,
		"dct:title":       d.Meta.Title,
		"dct:description": d.Meta.Description,
		"dct:publisher":   map[string]any{"@type": "foaf:Agent", "foaf:name": d.Publisher},
		"dcat:keyword":    nonNil(d.Meta.Keywords),
		"dct:issued":      map[string]any{"@type": "xsd:dateTime", "@value": d.Issued.UTC().Format(xsdDateTime)},
		"dct:modified":    map[string]any{"@type": "xsd:dateTime", "@value": d.Modified.UTC().Format(xsdDateTime)},
	}
	// Controlled vocabularies, as DCAT-AP asks (see vocab.go).
	if t, ok := themeTerm(d.Meta.Theme); ok {
		out["dcat:theme"] = t.node("skos:Concept")
	}
	if d.Meta.Licence != "" {
		out["dct:license"] = licenceNode(d.Meta.Licence)
	}
	if t, ok := frequencyTerm(d.Meta.Frequency); ok {
		out["dct:accrualPeriodicity"] = t.node("dct:Frequency")
	}
	if d.Meta.Spatial != "" {
		out["dct:spatial"] = spatialNode(d.Meta.Spatial)
	}
	if d.Meta.TemporalStart != "" || d.Meta.TemporalEnd != "" {
		t := map[string]any{"@type": "dct:PeriodOfTime"}
		if d.Meta.TemporalStart != "" {
			t["dcat:startDate"] = map[string]any{"@type": "xsd:date", "@value": d.Meta.TemporalStart}
		}
		if d.Meta.TemporalEnd != "" {
			t["dcat:endDate"] = map[string]any{"@type": "xsd:date", "@value": d.Meta.TemporalEnd}
		}
		out["dct:temporal"] = t
	}
	dists := []map[string]any{}
	if v := d.Latest; v != nil {
		out["dcat:version"] = strconv.Itoa(v.Number)
		for _, f := range []struct {
			f    Format
			size int64
		}{{CSV, v.CSVBytes}, {JSON, v.JSONBytes}, {NDJSON, v.NDJSONBytes}} {
			dl := url + "/versions/" + strconv.Itoa(v.Number) + "/export?format=" + string(f.f)
			dist := map[string]any{
				"@id": dl, "@type": "dcat:Distribution",
				"dct:title":        string(f.f),
				"dcat:byteSize":    map[string]any{"@type": "xsd:nonNegativeInteger", "@value": strconv.FormatInt(f.size, 10)},
				"dcat:downloadURL": map[string]any{"@id": dl},
				"dcat:accessURL":   map[string]any{"@id": url + "/records"},
				"dct:modified":     map[string]any{"@type": "xsd:dateTime", "@value": v.Created.UTC().Format(xsdDateTime)},
			}
			if t, ok := formatTerms[f.f]; ok {
				dist["dcat:mediaType"], dist["dct:format"] = t.media.node("dct:MediaType"), t.fileType.node("dct:MediaTypeOrExtent")
			} else {
				dist["dct:conformsTo"] = map[string]any{"@id": ndjsonSpec}
			}
			dists = append(dists, dist)
		}
	}
	out["dcat:distribution"] = dists
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// xsdDateTime is how the catalogue writes an xsd:dateTime: UTC, to the
// millisecond, so that a change within the same second still moves
// dct:modified.
const xsdDateTime = "2006-01-02T15:04:05.000Z"
