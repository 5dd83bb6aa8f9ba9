package openapi

import (
	"compress/gzip"
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"govx"
	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/httpx"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 document of the open-data API.
func OpenAPI() []byte { return openAPIDoc }

// Prefix is where the API is mounted.
const Prefix = "/open/v1/"

// DefaultMaxUpload is the largest CSV upload read: 1 GiB.
const DefaultMaxUpload = 1 << 30

// Config is what the open-data API needs.
type Config struct {
	Store    *Store
	Verifier httpx.Verifier // checks publishers' tokens
	// Departments says which departments a publisher's token may name
	// (catalog.ActAs); required.
	Departments catalog.Departments
	// Resources and Sources serve publishing from a department's own
	// system: Sources maps a catalogue resource code to its Source.
	Resources Resources
	Sources   map[string]Source
	// CursorKey signs paging cursors. Instances behind one load balancer
	// need the same key; the default, a random key, makes cursors die
	// with the process.
	CursorKey []byte
	// Limit wraps the public read routes: API keys and rate limits. nil is
	// none.
	Limit func(http.Handler) http.Handler
	// Extensions are further routes served under Prefix behind Limit
	// (the API-key and token endpoints), documented in the one OpenAPI
	// document third parties read.
	Extensions []Extension
	MaxUpload  int64 // default DefaultMaxUpload
	// StreamIdle is how long an export or an upload may stand still
	// between chunks; they are not held to the server's whole-request
	// deadlines. Default DefaultStreamIdle.
	StreamIdle time.Duration
	Logger     *slog.Logger // default slog.Default()
}

// DefaultStreamIdle is Config.StreamIdle's default.
const DefaultStreamIdle = 30 * time.Second

func (c *Config) Validate() error {
	if c.Store == nil || c.Verifier == nil || c.Departments == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "openapi: a handler needs a Store, a Verifier and Departments")
	}
	if len(c.CursorKey) == 0 {
		c.CursorKey = make([]byte, 32)
		rand.Read(c.CursorKey)
	}
	if c.MaxUpload <= 0 {
		c.MaxUpload = DefaultMaxUpload
	}
	if c.StreamIdle <= 0 {
		c.StreamIdle = DefaultStreamIdle
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

type handler struct {
	cfg Config
	s   *Store
}

// NewHandler returns the open-data API under /open/v1/. Reading is public
// (through cfg.Limit); publishing needs a bearer token of a department
// (dept claim) with role service or steward.
func NewHandler(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, s: cfg.Store}
	limit := cfg.Limit
	if limit == nil {
		limit = func(h http.Handler) http.Handler { return h }
	}
	mux := http.NewServeMux()
	read := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, limit(f)) }
	doc := openAPIDoc
	for _, ext := range cfg.Extensions {
		var err error
		if doc, err = mountExtension(mux, limit, doc, ext); err != nil {
			return nil, err
		}
	}
	mux.HandleFunc("GET /open/v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})
	mux.HandleFunc("GET /open/v1/docs", serveDocs)
	read("GET /open/v1/datasets", h.search)
	read("GET /open/v1/catalog.jsonld", h.catalog)
	read("GET /open/v1/datasets/{id}", h.show)
	read("GET /open/v1/datasets/{id}/versions", h.versions)
	read("GET /open/v1/datasets/{id}/records", h.records)
	read("GET /open/v1/datasets/{id}/versions/{n}/records", h.records)
	read("GET /open/v1/datasets/{id}/export", h.export)
	read("GET /open/v1/datasets/{id}/versions/{n}/export", h.export)
	mux.HandleFunc("PUT /open/v1/datasets/{id}", h.publisher(h.put))
	mux.HandleFunc("POST /open/v1/datasets/{id}/versions", h.publisher(h.upload))
	mux.HandleFunc("GET /open/v1/datasets/{id}/upload", h.publisher(h.uploadProgress))
	mux.HandleFunc("POST /open/v1/sources/{code}/publish", h.publisher(h.publishSource))
	mux.HandleFunc("/", httpx.NotFound(cfg.Logger))
	return httpx.ValidText(mux), nil
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	status := httpx.StatusOf(err)
	if govx.ErrorCode(err) == "csv_invalid" {
		status = http.StatusUnprocessableEntity
	}
	httpx.WriteErrorStatus(w, h.cfg.Logger, "", status, err)
}

// publisher admits a department's service or steward token.
func (h *handler) publisher(next func(http.ResponseWriter, *http.Request, *auth.Claims)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := httpx.Authenticate(r, h.cfg.Verifier)
		if err != nil {
			h.fail(w, err)
			return
		}
		if c.Dept == "" || (c.Role != "service" && c.Role != "steward") {
			h.fail(w, govx.Errorf(govx.KindForbidden, "publisher_only", "publishing needs a department token with role service or steward"))
			return
		}
		if err := catalog.ActAs(r.Context(), h.cfg.Departments, c); err != nil {
			h.fail(w, err)
			return
		}
		next(w, r, c)
	}
}

// notModified answers 304 when the client holds etag; it sets ETag either
// way.
func notModified(w http.ResponseWriter, r *http.Request, etag string) bool {
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "public, max-age=0, must-revalidate")
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		return false
	}
	for t := range strings.SplitSeq(inm, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			w.WriteHeader(http.StatusNotModified)
			return true
		}
	}
	return false
}

func versionParam(r *http.Request) (int, error) {
	s := r.PathValue("n")
	if s == "" {
		s = r.URL.Query().Get("version")
	}
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, govx.Errorf(govx.KindInvalid, "version_invalid", "a version is a positive number, not %q", httpx.Truncate(s, 20))
	}
	return n, nil
}

// datasetJSON is the DCAT-style JSON of a dataset.
type datasetJSON struct {
	ID            string             `json:"id"`
	Title         string             `json:"title"`
	Description   string             `json:"description"`
	Publisher     string             `json:"publisher"`
	Theme         string             `json:"theme"`
	Keywords      []string           `json:"keywords"`
	Licence       string             `json:"licence"`
	Frequency     string             `json:"frequency"`
	Temporal      *temporalJSON      `json:"temporal,omitempty"`
	Spatial       string             `json:"spatial"`
	Source        string             `json:"source,omitempty"`
	Issued        time.Time          `json:"issued"`
	Modified      time.Time          `json:"modified"`
	Version       int                `json:"version"`
	Rows          int64              `json:"rows"`
	Columns       []Column           `json:"columns"`
	Distributions []distributionJSON `json:"distributions"`
}

type temporalJSON struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type distributionJSON struct {
	Format      Format `json:"format"`
	MediaType   string `json:"media_type"`
	ByteSize    int64  `json:"byte_size"`
	DownloadURL string `json:"download_url"`
}

func toJSON(d *Dataset) datasetJSON {
	out := datasetJSON{ID: d.ID, Title: d.Meta.Title, Description: d.Meta.Description, Publisher: d.Publisher,
		Theme: d.Meta.Theme, Keywords: d.Meta.Keywords, Licence: d.Meta.Licence, Frequency: d.Meta.Frequency,
		Spatial: d.Meta.Spatial, Source: d.Source, Issued: d.Issued.UTC(), Modified: d.Modified.UTC(),
		Columns: []Column{}, Distributions: []distributionJSON{}}
	if out.Keywords == nil {
		out.Keywords = []string{}
	}
	if d.Meta.TemporalStart != "" || d.Meta.TemporalEnd != "" {
		out.Temporal = &temporalJSON{d.Meta.TemporalStart, d.Meta.TemporalEnd}
	}
	if v := d.Latest; v != nil {
		out.Version, out.Rows, out.Columns = v.Number, v.Rows, v.Columns
		for _, f := range []struct {
			f    Format
			size int64
		}{{CSV, v.CSVBytes}, {JSON, v.JSONBytes}, {NDJSON, v.NDJSONBytes}} {
			out.Distributions = append(out.Distributions, distributionJSON{Format: f.f, MediaType: strings.Split(f.f.ContentType(), ";")[0],
				ByteSize: f.size, DownloadURL: Prefix + "datasets/" + d.ID + "/versions/" + strconv.Itoa(v.Number) + "/export?format=" + string(f.f)})
		}
	}
	return out
}

func datasetETag(d *Dataset) string {
	n := 0
	if d.Latest != nil {
		n = d.Latest.Number
	}
	return fmt.Sprintf(`W/"%s.m%d.%d"`, d.ID, d.Modified.UnixMicro(), n)
}

func (h *handler) show(w http.ResponseWriter, r *http.Request) {
	d, err := h.s.Dataset(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Last-Modified", d.Modified.UTC().Format(http.TimeFormat))
	if notModified(w, r, datasetETag(d)) {
		return
	}
	writeJSON(w, http.StatusOK, toJSON(d))
}

// writeJSON is httpx.WriteJSON without its no-store: open data may be
// cached, and revalidated with its ETag.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	writeJSONBody(w, v)
}

func writeJSONBody(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func (h *handler) versions(w http.ResponseWriter, r *http.Request) {
	vs, err := h.s.Versions(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	type vj struct {
		Version int       `json:"version"`
		Rows    int64     `json:"rows"`
		Columns []Column  `json:"columns"`
		Created time.Time `json:"created"`
	}
	out := struct {
		Versions []vj `json:"versions"`
	}{Versions: []vj{}}
	for _, v := range vs {
		out.Versions = append(out.Versions, vj{v.Number, v.Rows, v.Columns, v.Created.UTC()})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sq := SearchQuery{Text: q.Get("q"), Publisher: q.Get("publisher"), Theme: q.Get("theme"), Format: Format(q.Get("format"))}
	for name, dst := range map[string]*int{"limit": &sq.Limit, "offset": &sq.Offset} {
		if s := q.Get(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				h.fail(w, govx.Errorf(govx.KindInvalid, "paging_invalid", "%s is a whole number", name))
				return
			}
			*dst = n
		}
	}
	res, err := h.s.Search(r.Context(), sq)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := struct {
		Datasets []datasetJSON      `json:"datasets"`
		Total    int                `json:"total"`
		Facets   map[string][]Facet `json:"facets"`
	}{Datasets: []datasetJSON{}, Total: res.Total, Facets: res.Facets}
	for _, d := range res.Datasets {
		out.Datasets = append(out.Datasets, toJSON(d))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

func (h *handler) records(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := versionParam(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	in := r.URL.Query()
	// The cursor names the version; the columns to parse against are its.
	pin := n
	if c := in.Get("cursor"); c != "" && pin == 0 {
		cur, err := openCursor(h.cfg.CursorKey, c)
		if err != nil {
			h.fail(w, err)
			return
		}
		pin = cur.Version
	}
	v, err := h.s.Version(r.Context(), id, pin)
	if err != nil {
		h.fail(w, err)
		return
	}
	q, err := ParseQuery(in, v.Columns)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Last-Modified", v.Created.UTC().Format(http.TimeFormat)) // when this version was published
	if notModified(w, r, v.ETag()) {
		return
	}
	page, err := h.s.Records(r.Context(), id, v.Number, q, h.cfg.CursorKey)
	if err != nil {
		h.fail(w, err)
		return
	}
	buf := make([]byte, 0, len(page.Records)+512)
	buf = append(buf, `{"dataset":`...)
	buf = appendJSONString(buf, []byte(id))
	buf = append(buf, `,"version":`...)
	buf = strconv.AppendInt(buf, int64(v.Number), 10)
	buf = append(buf, `,"fields":[`...)
	for i, c := range page.Fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, []byte(c.Name))
	}
	buf = append(buf, `],"records":`...)
	buf = append(buf, page.Records...)
	buf = append(buf, `,"count":`...)
	buf = strconv.AppendInt(buf, int64(page.N), 10)
	if page.Total != nil {
		buf = append(buf, `,"total":`...)
		buf = strconv.AppendInt(buf, *page.Total, 10)
	}
	buf = append(buf, `,"next_cursor":`...)
	if page.Cursor == "" {
		buf = append(buf, `null,"next":null}`...)
	} else {
		buf = appendJSONString(buf, []byte(page.Cursor))
		buf = append(buf, `,"next":`...)
		buf = appendJSONString(buf, []byte(nextURL(r.URL.Path, in, page.Cursor)))
		buf = append(buf, '}')
	}
	buf = append(buf, '\n')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
}

func (h *handler) export(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := versionParam(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	in := r.URL.Query()
	f := Format(in.Get("format"))
	switch f {
	case "":
		f = CSV
	case CSV, JSON, NDJSON:
	default:
		h.fail(w, govx.Errorf(govx.KindInvalid, "format_invalid", "format is csv, json or ndjson"))
		return
	}
	v, err := h.s.Version(r.Context(), id, n)
	if err != nil {
		h.fail(w, err)
		return
	}
	if in.Get("cursor") != "" || in.Get("limit") != "" {
		h.fail(w, govx.Errorf(govx.KindInvalid, "export_invalid", "an export is every matching row: it takes no limit or cursor"))
		return
	}
	q, err := ParseQuery(in, v.Columns)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Last-Modified", v.Created.UTC().Format(http.TimeFormat)) // when this version was published
	if notModified(w, r, v.ETag()) {
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ContentType())
	hd.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-v%d.%s"`, id, v.Number, f))
	hd.Add("Vary", "Accept-Encoding")
	// A long export is held to an idle deadline per chunk, not to the
	// server's WriteTimeout.
	out := httpx.IdleWriter(w, h.cfg.StreamIdle)
	var body io.Writer = out
	gzipped := acceptsGzip(r)
	started := false
	start := func() {
		started = true
		if gzipped {
			hd.Set("Content-Encoding", "gzip")
			gz, _ := gzip.NewWriterLevel(out, gzip.BestSpeed)
			body = gz
		}
		w.WriteHeader(http.StatusOK)
	}
	err = h.s.Export(r.Context(), v, q, f, writerFunc(func(p []byte) (int, error) { return body.Write(p) }), start)
	if gz, ok := body.(*gzip.Writer); ok && err == nil {
		err = gz.Close()
	}
	if err != nil {
		if !started {
			hd.Del("Content-Disposition")
			h.fail(w, err)
			return
		}
		// Headers are gone: cut the stream so the client sees it short.
		h.cfg.Logger.Error("export failed mid-stream", "dataset", id, "err", err)
		panic(http.ErrAbortHandler)
	}
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(name) == "gzip" && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

func (h *handler) put(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	var m Meta
	if err := httpx.DecodeJSON(r, 64<<10, &m); err != nil {
		h.fail(w, err)
		return
	}
	_, existed := h.s.Dataset(r.Context(), r.PathValue("id"))
	d, err := h.s.PutDataset(r.Context(), c.Dept, r.PathValue("id"), m)
	if err != nil {
		h.fail(w, err)
		return
	}
	status := http.StatusOK
	if existed != nil {
		status = http.StatusCreated
	}
	httpx.WriteJSON(w, status, toJSON(d))
}

func (h *handler) upload(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	var cols []Column
	if s := r.URL.Query().Get("columns"); s != "" {
		var err error
		if cols, err = ParseColumns(s); err != nil {
			h.fail(w, err)
			return
		}
	}
	indexes, err := ParseIndexes(r.URL.Query()["index"])
	if err != nil {
		h.fail(w, err)
		return
	}
	if r.ContentLength > h.cfg.MaxUpload {
		h.fail(w, govx.Errorf(govx.KindTooLarge, "body_too_large", "the upload is larger than %d bytes", h.cfg.MaxUpload))
		return
	}
	// A long upload is held to an idle deadline per chunk, not to the
	// server's ReadTimeout; loading may outlast its WriteTimeout too.
	body := http.MaxBytesReader(w, httpx.IdleBody(w, r, h.cfg.StreamIdle), h.cfg.MaxUpload)
	v, err := h.s.LoadIndexed(r.Context(), c.Dept, r.PathValue("id"), cols, indexes, body)
	httpx.ExtendWrite(w, h.cfg.StreamIdle)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.published(w, r, v)
}

// uploadProgress answers how far the running upload of a dataset has
// got, to its publisher: a large CSV takes a while, and its POST answers
// only at the end. Anyone else, and any dataset with no upload running on
// this instance, gets 404.
func (h *handler) uploadProgress(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	id := r.PathValue("id")
	p, ok := h.s.Upload(id)
	if !ok || p.Publisher != c.Dept {
		h.fail(w, govx.Errorf(govx.KindNotFound, "upload_not_running", "no upload of dataset %q of department %q is running on this server",
			httpx.Truncate(id, 60), c.Dept))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, p)
}

func (h *handler) publishSource(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	code := r.PathValue("code")
	src, ok := h.cfg.Sources[code]
	if !ok || h.cfg.Resources == nil {
		h.fail(w, govx.Errorf(govx.KindNotFound, "source_not_found", "no open-data source is registered for resource %q", httpx.Truncate(code, 80)))
		return
	}
	res, err := h.cfg.Resources.Resource(r.Context(), code)
	if err != nil {
		h.fail(w, err)
		return
	}
	v, err := h.s.PublishSource(r.Context(), c.Dept, res, src)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.published(w, r, v)
}

// published answers a new version with its dataset as it now stands.
func (h *handler) published(w http.ResponseWriter, r *http.Request, v *Version) {
	d, err := h.s.Dataset(r.Context(), v.Dataset)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, toJSON(d))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
