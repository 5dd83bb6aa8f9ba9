package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assetFS embed.FS

// asset is one embedded static file. It is served under two names: its
// content-hashed name ("app.3f2a1b9c0d.css"), which never changes meaning
// and may be cached for a year, and its plain name, which must be
// revalidated. Pages link the hashed name (template func asset).
type asset struct {
	name, hashed string
	data         []byte
	etag         string
	ctype        string
}

type assets struct {
	byName map[string]*asset // plain and hashed names
	plain  map[string]*asset // plain names only
}

func loadAssets() (*assets, error) {
	as := &assets{byName: make(map[string]*asset), plain: make(map[string]*asset)}
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		h := hex.EncodeToString(sum[:])[:12]
		name := strings.TrimPrefix(p, "assets/")
		ext := path.Ext(name)
		a := &asset{
			name: name, hashed: strings.TrimSuffix(name, ext) + "." + h + ext,
			data: data, etag: `"` + h + `"`, ctype: mime.TypeByExtension(ext),
		}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		as.byName[a.name], as.byName[a.hashed], as.plain[a.name] = a, a, a
		return nil
	})
	return as, err
}

// url is the template func asset: the hashed path of a static file. An
// unknown name is a fault of the template and fails its rendering.
func (as *assets) url(name string) (string, error) {
	a, ok := as.plain[name]
	if !ok {
		return "", &fs.PathError{Op: "asset", Path: name, Err: fs.ErrNotExist}
	}
	return "static/" + a.hashed, nil
}

func (ui *UI) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, ui.url("static/"))
	a, ok := ui.assets.byName[name]
	if !ok {
		ui.notFound(w, r)
		return
	}
	h := w.Header()
	if name == a.hashed {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", a.etag)
	h.Set("Content-Type", a.ctype)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
}
