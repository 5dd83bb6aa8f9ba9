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
		"dct:issued":      map[string]any{"@type": "xsd:dateTime", "@value": d.Issued.UTC().Format("2006-01-02T15:04:05Z")},
		"dct:modified":    map[string]any{"@type": "xsd:dateTime", "@value": d.Modified.UTC().Format("2006-01-02T15:04:05Z")},
	}
	if d.Meta.Theme != "" {
		out["dcat:theme"] = d.Meta.Theme
	}
	if d.Meta.Licence != "" {
		out["dct:license"] = d.Meta.Licence
	}
	if d.Meta.Frequency != "" {
		out["dct:accrualPeriodicity"] = d.Meta.Frequency
	}
	if d.Meta.Spatial != "" {
		out["dct:spatial"] = d.Meta.Spatial
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
			media := map[Format]string{CSV: "text/csv", JSON: "application/json", NDJSON: "application/x-ndjson"}[f.f]
			dl := url + "/versions/" + strconv.Itoa(v.Number) + "/export?format=" + string(f.f)
			dists = append(dists, map[string]any{
				"@id": dl, "@type": "dcat:Distribution",
				"dct:format": string(f.f), "dcat:mediaType": media,
				"dcat:byteSize":    map[string]any{"@type": "xsd:nonNegativeInteger", "@value": strconv.FormatInt(f.size, 10)},
				"dcat:downloadURL": map[string]any{"@id": dl},
				"dcat:accessURL":   map[string]any{"@id": url + "/records"},
			})
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
