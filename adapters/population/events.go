package population

import (
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/adapters"
	"govx/bus"
	"govx/internal/avro"
	"govx/internal/postgres"
	"govx/schemas"
)

// EventStatusChanged is the type of the event a change of a resident's
// status publishes on population.identity's event topic.
const EventStatusChanged = "population.status-changed"

// Schema is the population department's database schema, where its outbox
// table lives.
const Schema = "population"

// maxReason bounds the reason given for a change; it travels in every event.
const maxReason = 500

// Outbox returns the population department's outbox: SetStatus writes
// events into it, and its Relay publishes them.
func (s *Store) Outbox(codec *avro.Codec, log *slog.Logger) *adapters.Outbox {
	return adapters.NewOutbox(s.pool, Schema, Department, codec, log)
}

// SetStatus changes the status of the resident idNumber (normal, moved_out,
// deceased) and, in the same transaction, writes a population.status-changed
// event carrying the resident's population.identity record after the change
// into outbox. Either both happen or neither.
//
// Errors: a malformed ID number or an unknown status or a reason with
// control characters is KindInvalid; an unregistered resident is KindNotFound
// (resident_not_found); a deceased resident cannot change status any more
// and setting the status a resident already has changes nothing, both
// KindConflict (resident_deceased, status_unchanged).
func (s *Store) SetStatus(ctx context.Context, outbox *adapters.Outbox, idNumber, status, reason string) (Resident, error) {
	const op = "population.Store.SetStatus"
	if err := govx.ValidateIDNumber(idNumber); err != nil {
		return Resident{}, govx.E(op, err)
	}
	switch status {
	case StatusNormal, StatusMovedOut, StatusDeceased:
	default:
		return Resident{}, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_status",
			"status must be %s, %s or %s", StatusNormal, StatusMovedOut, StatusDeceased))
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > maxReason || !utf8.ValidString(reason) || strings.IndexFunc(reason, unicode.IsControl) >= 0 {
		return Resident{}, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_reason",
			"the reason must be valid text of at most %d bytes without control characters", maxReason))
	}
	var out Resident
	err := s.updateResident(ctx, idNumber, func(tx pgx.Tx, r *Resident) error {
		switch {
		case r.Status == StatusDeceased:
			return govx.Errorf(govx.KindConflict, "resident_deceased", "the resident is registered as deceased; the status can no longer change")
		case r.Status == status:
			return govx.Errorf(govx.KindConflict, "status_unchanged", "the resident's status is already %s", status)
		}
		r.Status = status
		r.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		if _, err := tx.Exec(ctx, `UPDATE population.residents SET status = $2, updated_at = $3 WHERE id_number = $1`,
			r.IDNumber, r.Status, r.UpdatedAt); err != nil {
			return postgres.Translate(op, err, "")
		}
		_, err := outbox.Add(ctx, tx, bus.Change{
			Resource: ResourceIdentity, Subject: schemas.PopulationIdentity, Key: r.IDNumber,
			Type: EventStatusChanged, Reason: reason, Record: identityRecord(*r, identityFields),
		})
		out = *r
		return err
	})
	if err != nil {
		return Resident{}, govx.E(op, err)
	}
	return out, nil
}

// identityFields are every field of population.identity.
var identityFields = []string{"id_number", "name", "sex", "birth_date", "ethnicity", "address", "division_code", "status"}

// updateResident runs change on the resident idNumber inside one
// transaction holding the resident's row lock; the change is committed only
// if change returns nil.
func (s *Store) updateResident(ctx context.Context, idNumber string, change func(pgx.Tx, *Resident) error) error {
	const op = "population.Store.updateResident"
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	r := Resident{IDNumber: idNumber}
	err = tx.QueryRow(ctx, `
		SELECT name, sex, birth_date, ethnicity, address, division_code, status, updated_at
		FROM population.residents WHERE id_number = $1 FOR UPDATE`, idNumber).
		Scan(&r.Name, &r.Sex, &r.BirthDate, &r.Ethnicity, &r.Address, &r.DivisionCode, &r.Status, &r.UpdatedAt)
	if err != nil {
		err = postgres.Translate(op, err, "resident_not_found")
		if govx.ErrorKind(err) == govx.KindNotFound {
			return &govx.Error{Kind: govx.KindNotFound, Code: "resident_not_found", Op: op,
				Message: "no resident with that ID number", Err: err}
		}
		return err
	}
	r.BirthDate, r.UpdatedAt = r.BirthDate.UTC(), r.UpdatedAt.UTC()
	if err := change(tx, &r); err != nil {
		return err
	}
	return postgres.Translate(op, tx.Commit(ctx), "")
}
