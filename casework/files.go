package casework

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"govx"
	"govx/internal/auth"
	"govx/internal/postgres"
)

// Content types an upload may have, told by the file's first bytes.
const (
	TypePDF  = "application/pdf"
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
)

// SniffType is the content type of an upload judged by its bytes alone (a
// PDF starts "%PDF-", a JPEG FF D8 FF, a PNG its 8-byte signature); "" for
// anything else, whatever its name or the type its sender claimed.
func SniffType(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("%PDF-")):
		return TypePDF
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return TypeJPEG
	case bytes.HasPrefix(data, []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}):
		return TypePNG
	}
	return ""
}

var extensions = map[string]string{TypePDF: ".pdf", TypeJPEG: ".jpg", TypePNG: ".png"}

// fileName is the name a file is kept and offered under: the last part of
// what the browser sent, without control characters, at most 100
// characters, its extension the one its content has; code.ext when
// nothing usable is left.
func fileName(name, code, typ string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '/' || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(strings.TrimSuffix(name, path.Ext(name)))
	if name == "" || name == "." || name == ".." {
		name = code
	}
	if r := []rune(name); len(r) > 96 {
		name = string(r[:96])
	}
	return name + extensions[typ]
}

// Upload stores the file body for the uploaded material code of
// applicant's case id, replacing one uploaded before. It must be a PDF,
// JPEG or PNG by its content (file_type_not_allowed otherwise, whatever
// its name says) of at most Config.MaxUpload bytes (file_too_large); name
// is what the browser called it. The file and the case's record of it are
// written in one transaction.
func (s *Service) Upload(ctx context.Context, applicant *auth.Claims, id, code, name string, body io.Reader) (*Case, error) {
	const op = "casework.Upload"
	if _, err := s.ownCase(ctx, applicant, id); err != nil {
		return nil, govx.E(op, err)
	}
	data, err := io.ReadAll(io.LimitReader(body, s.cfg.MaxUpload+1))
	if err != nil {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "upload_failed", "the file did not arrive whole: %v", err))
	}
	if int64(len(data)) > s.cfg.MaxUpload {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, CodeFileTooLarge, "a file is at most %d MB", s.cfg.MaxUpload>>20))
	}
	if len(data) == 0 {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, CodeFileEmpty, "the file is empty"))
	}
	typ := SniffType(data)
	if typ == "" {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, CodeFileType, "upload a PDF, JPEG or PNG file"))
	}
	sum := sha256.Sum256(data)
	c, err := s.changeOwn(ctx, applicant, id, ChangeInput{}, "upload", func(tx pgx.Tx, c *Case, it *Item, now time.Time) ([]event, error) {
		if err := editable(c); err != nil {
			return nil, err
		}
		spec, m, err := material(c, it, code)
		if err != nil {
			return nil, err
		}
		if spec.Source != FromUpload {
			return nil, govx.Errorf(govx.KindInvalid, "material_not_uploaded", "%s is fetched from the register, not uploaded", spec.Name)
		}
		info := FileInfo{Name: fileName(name, code, typ), ContentType: typ, Size: len(data), SHA256: hex.EncodeToString(sum[:]), UploadedAt: now}
		if _, err := tx.Exec(ctx, `INSERT INTO casework.files (case_id, material, name, content_type, size, sha256, data, uploaded_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (case_id, material) DO UPDATE SET name = EXCLUDED.name,
			content_type = EXCLUDED.content_type, size = EXCLUDED.size, sha256 = EXCLUDED.sha256, data = EXCLUDED.data,
			uploaded_at = EXCLUDED.uploaded_at`, c.ID, code, info.Name, info.ContentType, info.Size, info.SHA256, data, now); err != nil {
			return nil, err
		}
		m.State, m.Reason, m.Commitment, m.File = Received, "", "", &info
		c.corrected(code)
		return []event{{action: "uploaded", detail: code + " " + info.ContentType + " sha256:" + info.SHA256[:16]}}, nil
	})
	return c, govx.E(op, err)
}

// Download returns the file uploaded for material code of case id: to its
// applicant, and to the reviewers of the departments that review or
// pre-review it. Anyone else, and a material without a file, is not
// found.
func (s *Service) Download(ctx context.Context, caller *auth.Claims, id, code string) (*File, error) {
	const op = "casework.Download"
	if caller == nil {
		return nil, govx.E(op, govx.Errorf(govx.KindUnauthenticated, "token_missing", "sign in first"))
	}
	if caller.Person() {
		if _, err := s.ownCase(ctx, caller, id); err != nil {
			return nil, govx.E(op, err)
		}
	} else {
		if err := need(caller, RoleReviewer); err != nil {
			return nil, govx.E(op, err)
		}
		c, err := s.store.Get(ctx, id)
		if err != nil {
			return nil, govx.E(op, err)
		}
		if !c.reviewedBy(caller.Dept) || c.Status == Draft {
			return nil, govx.E(op, govx.Errorf(govx.KindNotFound, "case_not_found", "no case %s", id))
		}
	}
	f, err := s.store.file(ctx, id, code)
	return f, govx.E(op, err)
}

// reviewedBy reports whether dept reviews the case, or pre-reviews it
// online.
func (c *Case) reviewedBy(dept string) bool {
	return c.Review(dept) != nil || (c.Online != nil && c.Online.Dept == dept && c.Status != Draft)
}

func (s *Store) file(ctx context.Context, id, code string) (*File, error) {
	var f File
	err := s.pool.QueryRow(ctx, `SELECT name, content_type, size, sha256, data, uploaded_at FROM casework.files
		WHERE case_id = $1 AND material = $2`, id, code).Scan(&f.Name, &f.ContentType, &f.Size, &f.SHA256, &f.Data, &f.UploadedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, govx.Errorf(govx.KindNotFound, "file_not_found", "no file was uploaded for %q", code)
	}
	if err != nil {
		return nil, postgres.Translate("casework.Store.file", err, "")
	}
	return &f, nil
}

func jwtSubject(s string) jwt.RegisteredClaims { return jwt.RegisteredClaims{Subject: s} }
