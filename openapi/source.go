package openapi

import (
	"context"
	"io"
	"strings"

	"govx"
	"govx/catalog"
)

// Source is a department's own system offered as open data for one
// catalogue resource: its columns and a stream of rows. Rows yields each
// row's values in column order, "" for NULL, as text the column type
// accepts; it stops at the first error yield returns and returns it.
type Source interface {
	Columns() []Column
	Rows(ctx context.Context, yield func(row []string) error) error
}

// Resources looks catalogue resources up; *catalog.Store satisfies it.
type Resources interface {
	Resource(ctx context.Context, code string) (*catalog.Resource, error)
}

var _ Resources = (*catalog.Store)(nil)

// DatasetID is the dataset a catalogue resource is published as:
// "licence.food-business" becomes "licence-food-business".
func DatasetID(resource string) string {
	return strings.ReplaceAll(strings.ToLower(resource), ".", "-")
}

// PublishSource loads a new version of the dataset for resource r from
// src, creating the dataset from the resource's catalogue entry on first
// use. Only an open-class resource may be published, and only by its
// provider department.
func (s *Store) PublishSource(ctx context.Context, dept string, r *catalog.Resource, src Source) (*Version, error) {
	const op = "openapi.Store.PublishSource"
	if r.OpenClass != catalog.Open {
		return nil, govx.E(op, govx.Errorf(govx.KindForbidden, "resource_not_open",
			"resource %q is not open-class (%s); only open resources are published", r.Code, r.OpenClass))
	}
	if dept == "" || dept != r.Provider {
		return nil, govx.E(op, govx.Errorf(govx.KindForbidden, "not_provider", "resource %q is provided by department %q", r.Code, r.Provider))
	}
	id := DatasetID(r.Code)
	if _, err := s.Dataset(ctx, id); govx.ErrorCode(err) == "dataset_not_found" {
		m := Meta{Title: r.Name, Description: r.Summary, Frequency: r.UpdateCycle, Keywords: []string{r.Code}, Theme: r.Classification}
		if _, err := s.putDataset(ctx, op, dept, id, r.Code, m); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	cols := src.Columns()
	if err := validateColumns(cols); err != nil {
		return nil, govx.E(op, err)
	}
	// The source writes rows from its own goroutine into a channel the
	// loader reads one at a time: the source's query stays open while COPY
	// runs, and neither holds more than a row.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type item struct {
		row []string
		err error
	}
	ch := make(chan item, 64)
	go func() {
		err := src.Rows(ctx, func(row []string) error {
			select {
			case ch <- item{row: append([]string(nil), row...)}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err == nil {
			err = io.EOF
		}
		select {
		case ch <- item{err: err}:
		case <-ctx.Done():
		}
	}()
	line := 0
	next := func() ([]string, int, error) {
		it := <-ch
		if it.err != nil {
			if it.err == io.EOF {
				return nil, 0, io.EOF
			}
			return nil, 0, govx.E("source", it.err)
		}
		line++
		if len(it.row) != len(cols) {
			return nil, 0, govx.Errorf(govx.KindInternal, "source_invalid", "row %d of the source has %d values for %d columns", line, len(it.row), len(cols))
		}
		return it.row, line, nil
	}
	return s.load(ctx, op, dept, id, cols, nil, next)
}
