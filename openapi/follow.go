package openapi

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/exchange"
	"govx/internal/postgres"
)

// ChangeFeed delivers the change events of a register resource, in
// order, from cursor (an event's ID, exchange.FromStart, or "" for from
// now on), calling fn with each until ctx ends or fn fails:
// exchange.Client.Subscribe with the publishing department's token, so
// that the exchange decides and audits these reads as any consumer's. It
// returns fn's error, or why the subscription ended for good.
type ChangeFeed func(ctx context.Context, resource, cursor string, fn func(exchange.Event) error) error

// Follow is what Store.Follow keeps current: the dataset published from
// Source for catalogue resource Resource.
type Follow struct {
	Resource  string
	Source    Source
	Resources Resources
	Feed      ChangeFeed
	// Settle is how long changes are gathered after the first one before
	// a new version is published with all of them (default 2 s): a burst
	// of revocations makes one version, not one each.
	Settle time.Duration
	// Standby is how often an instance that is not the one following
	// tries to take over (default 15 s): one instance follows a resource
	// at a time, so changes make one version, not one per instance.
	Standby time.Duration
	Logger  *slog.Logger
}

// Follow keeps the register-backed dataset of f.Resource current: each
// change event of the resource (a licence issued, revoked, renewed) leads
// to a new version published from f.Source, which reads the register as
// it is then, so the dataset shows the change and its modified time moves
// on. Changes coming together are published together after f.Settle.
// Nothing is followed for a resource whose dataset its department has
// not published yet (publishing stays the department's decision): Follow
// holds no subscription until then, and looks again every f.Standby.
//
// Where it got to is kept in the opendata schema, after the version that
// holds the changes is published: a stop between the two publishes them
// again on the next start, which is harmless. The first time it starts
// from the first event the bus still holds (one version then). Among
// instances sharing the database one follows a resource at a time (a
// PostgreSQL advisory lock held by one connection); the others stand by
// and take over within f.Standby when it stops.
//
// It returns when ctx ends (ctx.Err()) or when the feed gives up.
func (s *Store) Follow(ctx context.Context, f Follow) error {
	const op = "openapi.Store.Follow"
	if f.Resource == "" || f.Source == nil || f.Resources == nil || f.Feed == nil {
		return govx.E(op, govx.Errorf(govx.KindInvalid, "follow_invalid", "Follow needs Resource, Source, Resources and Feed"))
	}
	if f.Settle <= 0 {
		f.Settle = 2 * time.Second
	}
	if f.Standby <= 0 {
		f.Standby = 15 * time.Second
	}
	if f.Logger == nil {
		f.Logger = slog.Default()
	}
	for {
		// Nothing to follow until the department publishes the dataset:
		// no subscription is held for it before then.
		if d, err := s.Dataset(ctx, DatasetID(f.Resource)); err == nil && d.Latest != nil {
			if err := s.followLocked(ctx, f); err != errNotMine {
				return err
			}
		} else if err != nil && govx.ErrorCode(err) != "dataset_not_found" {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.Standby):
		}
	}
}

// errNotMine says another instance follows the resource.
var errNotMine = errors.New("another instance follows the resource")

// followLocked follows f under the resource's advisory lock, or returns
// errNotMine when another instance holds it.
func (s *Store) followLocked(ctx context.Context, f Follow) error {
	const op = "openapi.Store.Follow"
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return postgres.Translate(op, err, "")
	}
	defer conn.Release()
	var mine bool
	key := followLock(f.Resource)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&mine); err != nil {
		return postgres.Translate(op, err, "")
	}
	if !mine {
		return errNotMine
	}
	// The pool keeps the connection, and a session's lock with it: unlock
	// before releasing it.
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	return s.follow(ctx, f)
}

// followLock is the advisory lock of following resource.
func followLock(resource string) int64 {
	h := fnv.New64a()
	h.Write([]byte("govx/openapi.Follow:" + resource))
	return int64(h.Sum64())
}

func (s *Store) follow(ctx context.Context, f Follow) error {
	cursor, err := s.sourceCursor(ctx, f.Resource)
	if err != nil {
		return err
	}
	if cursor == "" {
		cursor = exchange.FromStart
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		pending string // the last event told and not published yet
		dirty   bool
	)
	wake := make(chan struct{}, 1)
	fed := make(chan error, 1)
	go func() {
		fed <- f.Feed(ctx, f.Resource, cursor, func(ev exchange.Event) error {
			if ev.Resource != f.Resource {
				f.Logger.Warn("open data: change event of another resource skipped", "want", f.Resource, "got", ev.Resource)
				return nil
			}
			mu.Lock()
			if ev.ID != "" {
				pending = ev.ID
			}
			dirty = true
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	retry := time.Second
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-fed:
			return err
		case <-wake:
		}
		select { // gather what comes with it
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.Settle):
		}
		mu.Lock()
		upTo, was := pending, dirty
		dirty = false
		mu.Unlock()
		if !was {
			continue
		}
		if err := s.republish(ctx, f); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.Logger.Error("open data: publishing the changes of a register failed; trying again", "resource", f.Resource, "err", err, "in", retry)
			mu.Lock()
			dirty = true
			mu.Unlock()
			time.AfterFunc(retry, func() {
				select {
				case wake <- struct{}{}:
				default:
				}
			})
			retry = min(2*retry, time.Minute)
			continue
		}
		retry = time.Second
		if upTo != "" {
			if err := s.saveSourceCursor(ctx, f.Resource, upTo); err != nil {
				f.Logger.Warn("open data: saving where following a register got to", "resource", f.Resource, "err", err)
			}
		}
	}
}

// republish publishes a new version of the resource's dataset from its
// source, if the dataset was published at all.
func (s *Store) republish(ctx context.Context, f Follow) error {
	if _, err := s.Dataset(ctx, DatasetID(f.Resource)); govx.ErrorCode(err) == "dataset_not_found" {
		return nil
	} else if err != nil {
		return err
	}
	r, err := f.Resources.Resource(ctx, f.Resource)
	if err != nil {
		return err
	}
	v, err := s.PublishSource(ctx, r.Provider, r, f.Source)
	if err != nil {
		return err
	}
	f.Logger.Info("open data: register changes published", "resource", f.Resource, "version", v.Number, "rows", v.Rows)
	return nil
}

func (s *Store) sourceCursor(ctx context.Context, resource string) (string, error) {
	var cursor string
	err := s.pool.QueryRow(ctx, `SELECT cursor FROM opendata.source_cursors WHERE resource=$1`, resource).Scan(&cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", postgres.Translate("openapi.Store.sourceCursor", err, "")
	}
	return cursor, nil
}

func (s *Store) saveSourceCursor(ctx context.Context, resource, cursor string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO opendata.source_cursors (resource, cursor) VALUES ($1, $2)
		ON CONFLICT (resource) DO UPDATE SET cursor=EXCLUDED.cursor, saved_at=now()`, resource, cursor)
	if err != nil {
		return postgres.Translate("openapi.Store.saveSourceCursor", err, "")
	}
	return nil
}
