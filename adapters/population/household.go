package population

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/adapters"
	"govx/bus"
	"govx/catalog"
	"govx/internal/postgres"
	"govx/internal/splitmix"
)

// ResourceHousehold is the population department's household resource; its
// records are encoded with the schema subject of the same name.
const ResourceHousehold = "population.household"

// Relations of a household member to the head, as stored.
const (
	RelationHead       = "head"
	RelationSpouse     = "spouse"
	RelationChild      = "child"
	RelationParent     = "parent"
	RelationGrandchild = "grandchild"
	RelationSibling    = "sibling"
	RelationOther      = "other"
)

// Household is one household (户) of the register.
type Household struct {
	Number       string // division code and nine digits
	Head         Member // Relation is RelationHead
	Address      string
	DivisionCode string
	Members      []Member // the head first
}

// Member is one member of a household.
type Member struct {
	IDNumber string
	Name     string
	Relation string
}

// HouseholdResource is population.household's catalogue entry, with the
// metadata a government resource catalogue requires. Who lives with whom is
// shared on conditions: a department applies for it and the population
// department approves.
func HouseholdResource() catalog.Resource {
	// The demo catalogue holds the definition (catalog.SeedDemo registers
	// it, with a grant for the service center), so that there is one.
	return catalog.DemoHouseholdResource()
}

// Households calls fn with the households of residents [from, from+n), in
// the order they close, until fn returns false. Residents of one division
// are grouped as they come, in index order, into households of one to five;
// only residents whose status is normal live in a household. The oldest
// member heads it, its address is the head's, and each member's relation
// follows from age and sex. Like residents, households are a pure function
// of the seed and the range.
func (g *Generator) Households(from, n int, fn func(Household) bool) {
	type open struct {
		first   int // index of the first member: numbers the household
		want    int
		members []Resident
	}
	byDivision := map[string]*open{}
	var order []string // divisions with an open household, first opened first
	for i := from; i < from+n; i++ {
		r := g.Resident(i)
		if r.Status != StatusNormal {
			continue
		}
		o := byDivision[r.DivisionCode]
		if o == nil {
			rr := splitmix.RNG{State: splitmix.Mix64(g.salt ^ 0x686f757365686f6c ^ uint64(i))} // "househol"
			o = &open{first: i, want: 1 + rr.Intn(5)}
			byDivision[r.DivisionCode] = o
			order = append(order, r.DivisionCode)
		}
		o.members = append(o.members, r)
		if len(o.members) == o.want {
			delete(byDivision, r.DivisionCode)
			if !fn(makeHousehold(o.first, o.members)) {
				return
			}
		}
	}
	for _, d := range order { // a division may be listed more than once
		if o := byDivision[d]; o != nil {
			delete(byDivision, d)
			if !fn(makeHousehold(o.first, o.members)) {
				return
			}
		}
	}
}

// makeHousehold heads members by the oldest and works out each relation.
// first, the index of the first member, is unique to the household and
// numbers it.
func makeHousehold(first int, members []Resident) Household {
	head := 0
	for k, m := range members {
		if m.BirthDate.Before(members[head].BirthDate) {
			head = k
		}
	}
	h := members[head]
	out := Household{
		Number:       fmt.Sprintf("%s%09d", h.DivisionCode, first),
		Head:         Member{IDNumber: h.IDNumber, Name: h.Name, Relation: RelationHead},
		Address:      h.Address,
		DivisionCode: h.DivisionCode,
	}
	out.Members = append(out.Members, out.Head)
	spouse := false
	for k, m := range members {
		if k == head {
			continue
		}
		years := h.BirthDate.Sub(m.BirthDate).Hours() / (24 * 365.25) // negative: m is younger
		rel := RelationOther
		switch {
		case years <= -45:
			rel = RelationGrandchild
		case years <= -18:
			rel = RelationChild
		case years > -15 && m.Sex != h.Sex && !spouse:
			rel, spouse = RelationSpouse, true
		case years > -15:
			rel = RelationSibling
		}
		out.Members = append(out.Members, Member{IDNumber: m.IDNumber, Name: m.Name, Relation: rel})
	}
	return out
}

// HouseholdCount returns how many households the register holds.
func (s *Store) HouseholdCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM population.households`).Scan(&n)
	return n, postgres.Translate("population.Store.HouseholdCount", err, "")
}

// SeedHouseholds groups residents [from, from+n) of g into households
// (Generator.Households) and loads them with COPY, in one transaction. The
// residents must already be in the register (Seed with the same g and
// range). A household already there fails the whole load with KindConflict
// ("already_exists"). It returns how many households and members it loaded.
func (s *Store) SeedHouseholds(ctx context.Context, g *Generator, from, n int) (households, members int64, err error) {
	const op = "population.Store.SeedHouseholds"
	if from < 0 || n < 0 || from > Capacity()-n {
		return 0, 0, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_range",
			"residents [%d, %d+%d) are outside [0, %d)", from, from, n, Capacity()))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, 0, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// A foreign key checked row by row costs an index probe per row; checked
	// once after the load (ADD CONSTRAINT validates with one join) it costs
	// a fraction, which is how PostgreSQL advises bulk loads be done. The
	// constraints go and come back inside this transaction, so no one ever
	// sees the tables without them, and a violation undoes the whole load.
	if _, err := tx.Exec(ctx, `
		ALTER TABLE population.household_members
			DROP CONSTRAINT household_members_id_number_fkey,
			DROP CONSTRAINT household_members_household_no_fkey;
		ALTER TABLE population.households DROP CONSTRAINT households_head_id_number_fkey`); err != nil {
		return 0, 0, postgres.Translate(op, err, "")
	}
	// Households go in first, members second (they refer to them); the
	// grouping is recomputed for the second pass rather than held in memory.
	rows := newHouseholdRows(g, from, n, false)
	households, err = tx.CopyFrom(ctx, pgx.Identifier{"population", "households"},
		[]string{"household_no", "head_id_number", "address", "division_code"}, rows)
	rows.close()
	if err != nil {
		return 0, 0, postgres.Translate(op, err, "")
	}
	rows = newHouseholdRows(g, from, n, true)
	members, err = tx.CopyFrom(ctx, pgx.Identifier{"population", "household_members"},
		[]string{"id_number", "household_no", "relation"}, rows)
	rows.close()
	if err != nil {
		return 0, 0, postgres.Translate(op, err, "")
	}
	if _, err := tx.Exec(ctx, `
		ALTER TABLE population.households ADD CONSTRAINT households_head_id_number_fkey
			FOREIGN KEY (head_id_number) REFERENCES population.residents (id_number);
		ALTER TABLE population.household_members
			ADD CONSTRAINT household_members_id_number_fkey
				FOREIGN KEY (id_number) REFERENCES population.residents (id_number),
			ADD CONSTRAINT household_members_household_no_fkey
				FOREIGN KEY (household_no) REFERENCES population.households (household_no)`); err != nil {
		return 0, 0, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, postgres.Translate(op, err, "")
	}
	return households, members, nil
}

// householdRows streams the rows of households (or of their members) to
// COPY from a goroutine running Generator.Households; close stops it.
type householdRows struct {
	rows chan []any
	stop chan struct{}
	done chan struct{}
	row  []any
}

func newHouseholdRows(g *Generator, from, n int, members bool) *householdRows {
	h := &householdRows{rows: make(chan []any, 256), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		defer close(h.rows)
		g.Households(from, n, func(hh Household) bool {
			if !members {
				return h.send([]any{hh.Number, hh.Head.IDNumber, hh.Address, hh.DivisionCode})
			}
			for _, m := range hh.Members {
				if !h.send([]any{m.IDNumber, hh.Number, m.Relation}) {
					return false
				}
			}
			return true
		})
	}()
	return h
}

func (h *householdRows) close() {
	close(h.stop)
	<-h.done
}

func (h *householdRows) Next() bool {
	var ok bool
	h.row, ok = <-h.rows
	return ok
}

func (h *householdRows) send(row []any) bool {
	select {
	case h.rows <- row:
		return true
	case <-h.stop:
		return false
	}
}

func (h *householdRows) Values() ([]any, error) { return h.row, nil }

func (h *householdRows) Err() error { return nil }

// Household returns the household the resident idNumber lives in. A
// malformed number is KindInvalid; one that belongs to no household,
// KindNotFound ("household_not_found").
func (s *Store) Household(ctx context.Context, idNumber string) (Household, error) {
	const op = "population.Store.Household"
	if err := govx.ValidateIDNumber(idNumber); err != nil {
		return Household{}, govx.E(op, err)
	}
	var h Household
	var ids, names, relations []string
	err := s.pool.QueryRow(ctx, `
		SELECT h.household_no, h.head_id_number, hr.name, h.address, h.division_code,
		       array_agg(m2.id_number ORDER BY m2.relation <> 'head', m2.id_number),
		       array_agg(r2.name ORDER BY m2.relation <> 'head', m2.id_number),
		       array_agg(m2.relation ORDER BY m2.relation <> 'head', m2.id_number)
		FROM population.household_members m
		JOIN population.households h ON h.household_no = m.household_no
		JOIN population.residents hr ON hr.id_number = h.head_id_number
		JOIN population.household_members m2 ON m2.household_no = h.household_no
		JOIN population.residents r2 ON r2.id_number = m2.id_number
		WHERE m.id_number = $1
		GROUP BY h.household_no, h.head_id_number, hr.name, h.address, h.division_code`, idNumber).
		Scan(&h.Number, &h.Head.IDNumber, &h.Head.Name, &h.Address, &h.DivisionCode, &ids, &names, &relations)
	if err != nil {
		err = postgres.Translate(op, err, "household_not_found")
		if govx.ErrorKind(err) == govx.KindNotFound {
			return Household{}, &govx.Error{Kind: govx.KindNotFound, Code: "household_not_found", Op: op,
				Message: "no household with a member of that ID number", Err: err}
		}
		return Household{}, err
	}
	h.Head.Relation = RelationHead
	for k := range ids {
		h.Members = append(h.Members, Member{IDNumber: ids[k], Name: names[k], Relation: relations[k]})
	}
	return h, nil
}

// householdRecord holds only the fields asked for.
func householdRecord(h Household, fields []string) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		switch f {
		case "household_no":
			out[f] = h.Number
		case "head_id_number":
			out[f] = h.Head.IDNumber
		case "head_name":
			out[f] = h.Head.Name
		case "address":
			out[f] = h.Address
		case "division_code":
			out[f] = h.DivisionCode
		case "members":
			ms := make([]any, len(h.Members))
			for k, m := range h.Members {
				ms[k] = map[string]any{"id_number": m.IDNumber, "name": m.Name, "relation": m.Relation}
			}
			out[f] = ms
		}
	}
	return out
}

// registerHousehold mounts the population.household handler on rt.
func registerHousehold(rt *adapters.Runtime, store *Store) {
	rt.Handle(ResourceHousehold, ResourceHousehold, func(ctx context.Context, req *bus.Request) (any, error) {
		if err := govx.ValidateIDNumber(req.Key); err != nil {
			return nil, err
		}
		h, err := adapters.Lookup(ctx, register,
			govx.Errorf(govx.KindNotFound, "household_not_found", "no household with a member of that ID number"),
			func(ctx context.Context) (Household, error) { return store.Household(ctx, req.Key) })
		if err != nil {
			return nil, err
		}
		return householdRecord(h, req.Fields), nil
	})
}
