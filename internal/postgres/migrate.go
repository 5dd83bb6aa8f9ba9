package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
)

// Source is one component's migrations: files named NNN_description.sql in
// FS (at its root), applied in name order, each once.
type Source struct {
	Name string
	FS   fs.FS
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
		names, err := fs.Glob(src.FS, "*.sql")
		if err != nil {
			return applied, govx.E(op, err)
		}
		sort.Strings(names)
		for _, name := range names {
			body, err := fs.ReadFile(src.FS, name)
			if err != nil {
				return applied, govx.E(op, err)
			}
			sum := sha256.Sum256(body)
			checksum := hex.EncodeToString(sum[:])
			var have string
			err = conn.QueryRow(ctx, `SELECT checksum FROM govx_migrations WHERE component=$1 AND name=$2`,
				src.Name, name).Scan(&have)
			if err == nil {
				if have != checksum {
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

// SourceDir is the migrations in folder dir of fsys (typically an embed.FS
// holding migrations/*.sql) under the component name.
func SourceDir(name string, fsys fs.FS, dir string) Source {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("postgres: migrations of %s: %v", name, err)) // a fixed, embedded path
	}
	return Source{Name: name, FS: sub}
}
