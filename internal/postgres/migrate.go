package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
)

// Source is one component's migrations: files named NNN_description.sql in
// FS (at its root) and the Built ones, applied together in name order, each
// once.
type Source struct {
	Name string
	FS   fs.FS
	// Built are migrations whose SQL a package builds in Go for the
	// component, such as the outbox table in the component's schema
	// (outbox.Migration): one definition shared by several components.
	Built []Migration
	// Replaces lists, by migration name, the checksums of earlier texts of
	// that migration which its current text replaces. A database where an
	// earlier text was applied takes the current one as applied and records
	// its checksum, instead of refusing it. List one only when the change
	// moved part of a migration into a later migration of the component that
	// is harmless where the earlier text ran (CREATE TABLE IF NOT EXISTS),
	// so both kinds of database end the same.
	Replaces map[string][]string
}

// Migration is one migration that is not a file: its name sorts it among
// the component's files.
type Migration struct {
	Name string // NNN_description.sql
	SQL  string
}

// migrationLock is the advisory lock key that serialises concurrent
// migrators (several containers starting at once).
const migrationLock = 0x676f7678 // "govx"

// Migrate applies every migration of every source not applied yet, each in
// its own transaction together with its bookkeeping row, so a failed
// migration leaves nothing half-applied. A migration that was applied and
// then edited is refused: its checksum no longer matches.
func Migrate(ctx context.Context, pool *pgxpool.Pool, sources ...Source) (applied []string, err error) {
	const op = "postgres.Migrate"
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, Translate(op, err, "")
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, Translate(op, err, "")
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS govx_migrations (
		component  text NOT NULL,
		name       text NOT NULL,
		checksum   text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now(),
		PRIMARY KEY (component, name))`); err != nil {
		return nil, Translate(op, err, "")
	}
	for _, src := range sources {
		migrations, err := src.migrations()
		if err != nil {
			return applied, govx.E(op, err)
		}
		for _, m := range migrations {
			name, body := m.Name, []byte(m.SQL)
			sum := sha256.Sum256(body)
			checksum := hex.EncodeToString(sum[:])
			var have string
			err = conn.QueryRow(ctx, `SELECT checksum FROM govx_migrations WHERE component=$1 AND name=$2`,
				src.Name, name).Scan(&have)
			if err == nil {
				switch {
				case have == checksum:
				case slices.Contains(src.Replaces[name], have):
					if _, err := conn.Exec(ctx, `UPDATE govx_migrations SET checksum=$3 WHERE component=$1 AND name=$2`,
						src.Name, name, checksum); err != nil {
						return applied, Translate(op, err, "")
					}
				default:
					return applied, govx.E(op, fmt.Errorf("migration %s/%s changed after it was applied", src.Name, name))
				}
				continue
			}
			if govx.ErrorKind(Translate(op, err, "")) != govx.KindNotFound {
				return applied, Translate(op, err, "")
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				return applied, Translate(op, err, "")
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				tx.Rollback(ctx)
				return applied, govx.E(op, fmt.Errorf("migration %s/%s: %w", src.Name, name, err))
			}
			if _, err := tx.Exec(ctx, `INSERT INTO govx_migrations (component, name, checksum) VALUES ($1,$2,$3)`,
				src.Name, name, checksum); err != nil {
				tx.Rollback(ctx)
				return applied, Translate(op, err, "")
			}
			if err := tx.Commit(ctx); err != nil {
				return applied, Translate(op, err, "")
			}
			applied = append(applied, path.Join(src.Name, strings.TrimSuffix(name, ".sql")))
		}
	}
	return applied, nil
}

// migrations returns the source's files and built migrations in name
// order.
func (src Source) migrations() ([]Migration, error) {
	var out []Migration
	if src.FS != nil {
		names, err := fs.Glob(src.FS, "*.sql")
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			body, err := fs.ReadFile(src.FS, name)
			if err != nil {
				return nil, err
			}
			out = append(out, Migration{Name: name, SQL: string(body)})
		}
	}
	out = append(out, src.Built...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := 1; i < len(out); i++ {
		if out[i].Name == out[i-1].Name {
			return nil, fmt.Errorf("migration %s/%s defined twice", src.Name, out[i].Name)
		}
	}
	return out, nil
}

// SourceDir is the migrations in folder dir of fsys (typically an embed.FS
// holding migrations/*.sql) under the component name.
func SourceDir(name string, fsys fs.FS, dir string) Source {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("postgres: migrations of %s: %v", name, err)) // a fixed, embedded path
	}
	return Source{Name: name, FS: sub}
}
