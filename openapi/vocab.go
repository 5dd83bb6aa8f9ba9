package openapi

import (
	"regexp"
	"strings"
)

// DCAT-AP asks for theme, licence, frequency, place, media type and file
// format as resources of controlled vocabularies, not as text. A publisher
// still writes the short forms it knows ("environment", "CC-BY-4.0",
// "monthly", "Shenzhen"); the catalogue serves each as the IRI of its
// concept with labels in Chinese and English. The vocabularies:
//
//   - dcat:theme: the EU data themes (data-theme authority table), from its
//     code ("ENVI"), its English label or a common word for it, a
//     catalogue classification ("base/licence/…"), or the IRI itself.
//   - dct:license: SPDX licence IRIs (https://spdx.org/licenses/<id>), from
//     the SPDX identifier; an SPDX or EU licence-authority IRI is taken as is.
//   - dct:accrualPeriodicity: the EU frequency authority table ("real-time"
//     is CONT, continuous).
//   - dct:spatial: GeoNames (https://sws.geonames.org/<id>/), which names
//     cities and countries alike in one scheme, from a known place name,
//     "geonames:<id>" or a GeoNames IRI.
//   - dcat:mediaType: IANA media types; dct:format: the EU file-type table.
//
// A value outside these is never served as a bare string: an unknown theme
// or frequency is left out of the catalogue (the dataset's own metadata
// still carries what the publisher wrote), an unknown licence or place is a
// dct:LicenseDocument or dct:Location named by the publisher's text.

const (
	euTheme     = "http://publications.europa.eu/resource/authority/data-theme/"
	euFrequency = "http://publications.europa.eu/resource/authority/frequency/"
	euFileType  = "http://publications.europa.eu/resource/authority/file-type/"
	euLicence   = "http://publications.europa.eu/resource/authority/licence/"
	spdx        = "https://spdx.org/licenses/"
	geonames    = "https://sws.geonames.org/"
	ianaMedia   = "https://www.iana.org/assignments/media-types/"
)

// term is a concept of a controlled vocabulary.
type term struct {
	iri    string
	en, zh string
}

// node is the concept as JSON-LD: its IRI, the class DCAT-AP expects of
// the property's value, and its labels.
func (t term) node(class string) map[string]any {
	out := map[string]any{"@id": t.iri, "@type": class}
	var labels []map[string]any
	if t.zh != "" {
		labels = append(labels, map[string]any{"@value": t.zh, "@language": "zh"})
	}
	if t.en != "" {
		labels = append(labels, map[string]any{"@value": t.en, "@language": "en"})
	}
	if labels != nil {
		out["skos:prefLabel"] = labels
	}
	return out
}

var themes = map[string]term{
	"AGRI": {euTheme + "AGRI", "Agriculture, fisheries, forestry and food", "农业、渔业、林业和食品"},
	"ECON": {euTheme + "ECON", "Economy and finance", "经济和金融"},
	"EDUC": {euTheme + "EDUC", "Education, culture and sport", "教育、文化和体育"},
	"ENER": {euTheme + "ENER", "Energy", "能源"},
	"ENVI": {euTheme + "ENVI", "Environment", "环境"},
	"GOVE": {euTheme + "GOVE", "Government and public sector", "政府和公共部门"},
	"HEAL": {euTheme + "HEAL", "Health", "卫生健康"},
	"INTR": {euTheme + "INTR", "International issues", "国际事务"},
	"JUST": {euTheme + "JUST", "Justice, legal system and public safety", "司法、法律体系和公共安全"},
	"REGI": {euTheme + "REGI", "Regions and cities", "地区和城市"},
	"SOCI": {euTheme + "SOCI", "Population and society", "人口和社会"},
	"TECH": {euTheme + "TECH", "Science and technology", "科学和技术"},
	"TRAN": {euTheme + "TRAN", "Transport", "交通运输"},
}

// themeWords are the words publishers use for a theme, and the base
// registers' catalogue classifications (base/<register>/…): licences and
// companies are economic registers, residents population.
var themeWords = map[string]string{
	"agriculture": "AGRI", "food": "AGRI", "economy": "ECON", "finance": "ECON", "education": "EDUC", "culture": "EDUC",
	"energy": "ENER", "environment": "ENVI", "government": "GOVE", "public sector": "GOVE", "health": "HEAL",
	"international": "INTR", "justice": "JUST", "public safety": "JUST", "regions": "REGI", "cities": "REGI",
	"population": "SOCI", "society": "SOCI", "science": "TECH", "technology": "TECH", "transport": "TRAN",
	"农业": "AGRI", "经济": "ECON", "教育": "EDUC", "能源": "ENER", "环境": "ENVI", "政府": "GOVE", "卫生": "HEAL",
	"司法": "JUST", "人口": "SOCI", "科技": "TECH", "交通": "TRAN",
	"base/licence": "ECON", "base/legal-entity": "ECON", "base/population": "SOCI",
}

// themeTerm is the EU data theme of s.
func themeTerm(s string) (term, bool) {
	s = strings.TrimSpace(s)
	if t, ok := themes[strings.ToUpper(strings.TrimPrefix(s, euTheme))]; ok {
		return t, true
	}
	key := strings.ToLower(s)
	for code, t := range themes {
		if strings.ToLower(t.en) == key {
			return themes[code], true
		}
	}
	if code, ok := themeWords[key]; ok {
		return themes[code], true
	}
	// A catalogue classification: its first two segments.
	if parts := strings.SplitN(key, "/", 3); len(parts) >= 2 {
		if code, ok := themeWords[parts[0]+"/"+parts[1]]; ok {
			return themes[code], true
		}
	}
	return term{}, false
}

var licences = map[string]term{
	"cc-by-4.0":    {spdx + "CC-BY-4.0", "Creative Commons Attribution 4.0 International", "知识共享署名 4.0 国际"},
	"cc-by-sa-4.0": {spdx + "CC-BY-SA-4.0", "Creative Commons Attribution Share Alike 4.0 International", "知识共享署名-相同方式共享 4.0 国际"},
	"cc0-1.0":      {spdx + "CC0-1.0", "Creative Commons Zero v1.0 Universal", "知识共享 CC0 1.0 通用"},
	"odc-by-1.0":   {spdx + "ODC-By-1.0", "Open Data Commons Attribution License v1.0", "开放数据共享署名许可 1.0"},
	"odbl-1.0":     {spdx + "ODbL-1.0", "Open Data Commons Open Database License v1.0", "开放数据库许可 1.0"},
	"pddl-1.0":     {spdx + "PDDL-1.0", "Open Data Commons Public Domain Dedication & License 1.0", "开放数据共享公有领域贡献与许可 1.0"},
}

var iriLike = regexp.MustCompile(`^https?://[^\s<>"{}|\\^` + "`" + `]+$`)

// licenceNode is the licence s: an SPDX IRI for an SPDX identifier, an
// SPDX or EU licence-authority IRI as given, else a licence document
// named by s.
func licenceNode(s string) map[string]any {
	s = strings.TrimSpace(s)
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, spdx), "http://spdx.org/licenses/"), ".html")
	if t, ok := licences[strings.ToLower(id)]; ok {
		return t.node("dct:LicenseDocument")
	}
	if iriLike.MatchString(s) && (strings.HasPrefix(s, spdx) || strings.HasPrefix(s, euLicence)) {
		return map[string]any{"@id": s, "@type": "dct:LicenseDocument"}
	}
	return map[string]any{"@type": "dct:LicenseDocument", "skos:prefLabel": s}
}

var frequencies = map[string]term{
	"CONT":      {euFrequency + "CONT", "continuous", "实时"},
	"HOURLY":    {euFrequency + "HOURLY", "hourly", "每小时"},
	"DAILY":     {euFrequency + "DAILY", "daily", "每日"},
	"WEEKLY":    {euFrequency + "WEEKLY", "weekly", "每周"},
	"MONTHLY":   {euFrequency + "MONTHLY", "monthly", "每月"},
	"QUARTERLY": {euFrequency + "QUARTERLY", "quarterly", "每季度"},
	"ANNUAL_2":  {euFrequency + "ANNUAL_2", "semiannual", "每半年"},
	"ANNUAL":    {euFrequency + "ANNUAL", "annual", "每年"},
	"IRREG":     {euFrequency + "IRREG", "irregular", "不定期"},
	"NEVER":     {euFrequency + "NEVER", "never", "不更新"},
	"UNKNOWN":   {euFrequency + "UNKNOWN", "unknown", "未知"},
}

var frequencyWords = map[string]string{
	"real-time": "CONT", "realtime": "CONT", "continuous": "CONT", "hourly": "HOURLY", "daily": "DAILY",
	"weekly": "WEEKLY", "monthly": "MONTHLY", "quarterly": "QUARTERLY", "semiannual": "ANNUAL_2",
	"half-yearly": "ANNUAL_2", "annual": "ANNUAL", "annually": "ANNUAL", "yearly": "ANNUAL",
	"irregular": "IRREG", "never": "NEVER", "unknown": "UNKNOWN",
	"实时": "CONT", "每小时": "HOURLY", "每日": "DAILY", "每天": "DAILY", "每周": "WEEKLY", "每月": "MONTHLY",
	"每季度": "QUARTERLY", "每半年": "ANNUAL_2", "每年": "ANNUAL", "不定期": "IRREG",
}

// frequencyTerm is the EU frequency of s.
func frequencyTerm(s string) (term, bool) {
	s = strings.TrimSpace(s)
	if t, ok := frequencies[strings.ToUpper(strings.TrimPrefix(s, euFrequency))]; ok {
		return t, true
	}
	if code, ok := frequencyWords[strings.ToLower(s)]; ok {
		return frequencies[code], true
	}
	return term{}, false
}

// places are the places the catalogue knows by name, as GeoNames
// features.
var places = map[string]term{
	"shenzhen": {geonames + "1795565/", "Shenzhen", "深圳市"},
	"深圳":       {geonames + "1795565/", "Shenzhen", "深圳市"},
	"深圳市":      {geonames + "1795565/", "Shenzhen", "深圳市"},
	"china":    {geonames + "1814991/", "China", "中国"},
	"中国":       {geonames + "1814991/", "China", "中国"},
}

var geonamesIRI = regexp.MustCompile(`^(?:geonames:|https?://(?:sws\.|www\.)?geonames\.org/)([0-9]{1,10})/?$`)

// spatialNode is the place s: a GeoNames feature, or a location named by
// s.
func spatialNode(s string) map[string]any {
	s = strings.TrimSpace(s)
	if t, ok := places[strings.ToLower(s)]; ok {
		return t.node("dct:Location")
	}
	if m := geonamesIRI.FindStringSubmatch(s); m != nil {
		iri := geonames + m[1] + "/"
		for _, t := range places {
			if t.iri == iri {
				return t.node("dct:Location")
			}
		}
		return map[string]any{"@id": iri, "@type": "dct:Location"}
	}
	return map[string]any{"@type": "dct:Location", "skos:prefLabel": s}
}

// formatTerms are a distribution's IANA media type and EU file type, by
// format. NDJSON has neither (no media type is registered for it, nor a
// file type): its distribution names the specification it conforms to.
var formatTerms = map[Format]struct{ media, fileType term }{
	CSV:  {term{ianaMedia + "text/csv", "text/csv", ""}, term{euFileType + "CSV", "CSV", ""}},
	JSON: {term{ianaMedia + "application/json", "application/json", ""}, term{euFileType + "JSON", "JSON", ""}},
}

// ndjsonSpec is what an NDJSON distribution conforms to.
const ndjsonSpec = "https://github.com/ndjson/ndjson-spec"
