package web

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Languages the UI speaks. Chinese comes first: it is the default.
const (
	LangZh = "zh"
	LangEn = "en"
)

var languages = []string{LangZh, LangEn}

// langCookie remembers a language chosen with ?lang=.
const langCookie = "govx_lang"

//go:embed messages.json
var messagesJSON []byte

// catalogue maps a message key to its text per language. Texts may hold fmt
// verbs for the arguments of `t "key" args...`.
type catalogue map[string]map[string]string

func loadCatalogue(data []byte) (catalogue, error) {
	var c catalogue
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("messages.json: %w", err)
	}
	return c, nil
}

// has reports whether key exists in lang.
func (c catalogue) has(lang, key string) bool {
	_, ok := c[key][lang]
	return ok
}

// text translates key into lang. A missing key falls back to the key itself,
// so that a page still renders; TestCatalogueComplete keeps that from
// reaching a user.
func (c catalogue) text(lang, key string, args ...any) string {
	msg, ok := c[key][lang]
	if !ok {
		msg, ok = c[key][LangZh]
	}
	if !ok {
		msg = key
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// prefixed returns every text of lang whose key starts with prefix, keyed
// without it: the messages app.js needs, handed to the page as JSON.
func (c catalogue) prefixed(lang, prefix string) map[string]string {
	out := make(map[string]string)
	for key := range c {
		if rest, ok := strings.CutPrefix(key, prefix); ok {
			out[rest] = c.text(lang, key)
		}
	}
	return out
}

// negotiate picks the language of a request: ?lang= first, then the cookie
// it set, then Accept-Language, then Chinese. It reports whether ?lang= asked
// for a supported language, so the caller can remember it in the cookie.
func negotiate(r *http.Request) (lang string, chosen bool) {
	if q := r.URL.Query().Get("lang"); supported(q) {
		return q, true
	}
	if c, err := r.Cookie(langCookie); err == nil && supported(c.Value) {
		return c.Value, false
	}
	if l := fromAcceptLanguage(r.Header.Get("Accept-Language")); l != "" {
		return l, false
	}
	return LangZh, false
}

func supported(lang string) bool {
	for _, l := range languages {
		if l == lang {
			return true
		}
	}
	return false
}

// fromAcceptLanguage returns the supported language the header likes best,
// or "" when it names none. "zh-CN", "zh-Hans" and "en-GB" count as their
// primary language; q=0 excludes a language.
func fromAcceptLanguage(h string) string {
	type pref struct {
		lang string
		q    float64
	}
	var prefs []pref
	for part := range strings.SplitSeq(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.TrimSpace(k) == "q" {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if supported(primary) && q > 0 {
			prefs = append(prefs, pref{primary, q})
		}
	}
	if len(prefs) == 0 {
		return ""
	}
	sort.SliceStable(prefs, func(i, j int) bool { return prefs[i].q > prefs[j].q })
	return prefs[0].lang
}
