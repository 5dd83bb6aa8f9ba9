package catalog_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"govx"
	"govx/catalog"
)

func mustRegister(tb testing.TB, s *catalog.Store, subject, schema string) int {
	tb.Helper()
	id, err := s.RegisterSchema(context.Background(), subject, schema)
	if err != nil {
		tb.Fatalf("RegisterSchema(%s): %v", subject, err)
	}
	return id
}

// One schema, one id: under every subject, and again after a deletion,
// with versions that still count on.
func TestSchemaIDsAcrossSubjects(t *testing.T) {
	ctx := context.Background()
	s, _ := mustStore(t)
	id1 := mustRegister(t, s, "test.a", personV1)
	if id := mustRegister(t, s, "test.b", personV1Reformatted); id != id1 {
		t.Errorf("same schema under another subject: id %d, want %d", id, id1)
	}
	id2 := mustRegister(t, s, "test.a", personV2)
	if id2 == id1 {
		t.Fatalf("another schema got id %d too", id1)
	}
	if _, err := s.DeleteSchemaVersion(ctx, "test.a", 1, false); err != nil {
		t.Fatal(err)
	}
	if id := mustRegister(t, s, "test.a", personV1); id != id1 {
		t.Errorf("a schema registered again after its deletion: id %d, want %d", id, id1)
	}
	if v, err := s.SchemaVersion(ctx, "test.a", catalog.LatestVersion, false); err != nil || v.Version != 3 || v.ID != id1 {
		t.Errorf("latest of test.a = %+v, %v; want version 3 with id %d", v, err, id1)
	}

	for _, tt := range []struct {
		d    catalog.Deleted
		want []catalog.SubjectVersion
	}{
		{catalog.LiveOnly, []catalog.SubjectVersion{{"test.a", 3}, {"test.b", 1}}},
		{catalog.WithDeleted, []catalog.SubjectVersion{{"test.a", 1}, {"test.a", 3}, {"test.b", 1}}},
		{catalog.DeletedOnly, []catalog.SubjectVersion{{"test.a", 1}}},
	} {
		got, err := s.SchemaVersionsByID(ctx, id1, tt.d)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SchemaVersionsByID(%d, %d) = %v, %v; want %v", id1, tt.d, got, err, tt.want)
		}
	}
	_, err := s.SchemaVersionsByID(ctx, 999_999, catalog.WithDeleted)
	wantErr(t, err, govx.KindNotFound, "schema_not_found")
}

// Rows stored before one schema had one id keep theirs; a new
// registration of the same schema takes the oldest of them.
func TestSchemaIDsOfOlderRows(t *testing.T) {
	ctx := context.Background()
	s, pool := mustStore(t)
	var old [2]int
	for i, subject := range []string{"test.old1", "test.old2"} {
		if err := pool.QueryRow(ctx, `INSERT INTO catalog.schemas (subject, version, schema, fingerprint)
			VALUES ($1, 1, $2, 'canonical-form-fingerprint') RETURNING schema_id`, subject, personV2).Scan(&old[i]); err != nil {
			t.Fatal(err)
		}
	}
	if old[0] == old[1] {
		t.Fatalf("the rows share id %d", old[0])
	}
	if id := mustRegister(t, s, "test.new", personV2); id != old[0] {
		t.Errorf("new subject took id %d, want the oldest row's %d", id, old[0])
	}
	for i, subject := range []string{"test.old1", "test.old2"} {
		v, err := s.SchemaVersion(ctx, subject, 1, false)
		if err != nil || v.ID != old[i] {
			t.Errorf("%s version 1 = %+v, %v; want id %d kept", subject, v, err, old[i])
		}
		if _, err := s.SchemaByID(ctx, old[i]); err != nil {
			t.Errorf("SchemaByID(%d): %v", old[i], err)
		}
	}
	var stale int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM catalog.schemas WHERE fingerprint NOT LIKE 'j:%'`).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if stale != 0 {
		t.Errorf("%d rows keep a fingerprint of the older form", stale)
	}
}

// Subjects taking one new schema at once agree on its id.
func TestSchemaIDConcurrently(t *testing.T) {
	s, _ := mustStore(t)
	const n = 6
	ids := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ids[i], errs[i] = s.RegisterSchema(context.Background(), fmt.Sprintf("test.s%d", i), personV2)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("subject %d: id %d, %v; subject 0 got %d", i, ids[i], errs[i], ids[0])
		}
	}
}

// Deletions as Confluent's: a soft delete first, then a permanent one; an
// id no version holds any more is gone, and so are the settings of a
// subject without versions.
func TestDeleteSchemaVersions(t *testing.T) {
	ctx := context.Background()
	s, _ := mustStore(t)
	id1 := mustRegister(t, s, "test.person", personV1)
	id2 := mustRegister(t, s, "test.person", personV2)
	mustRegister(t, s, "test.other", personV2)
	if err := s.SetCompatibility(ctx, "test.person", catalog.Full); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMode(ctx, "test.person", catalog.ReadWrite); err != nil {
		t.Fatal(err)
	}

	_, err := s.DeleteSchemaVersion(ctx, "test.person", 1, true)
	wantErr(t, err, govx.KindNotFound, "version_not_soft_deleted")
	_, err = s.DeleteSchemaVersion(ctx, "test.person", 7, false)
	wantErr(t, err, govx.KindNotFound, "version_not_found")
	_, err = s.DeleteSchemaVersion(ctx, "test.nobody", 1, false)
	wantErr(t, err, govx.KindNotFound, "subject_not_found")
	_, err = s.DeleteSubject(ctx, "test.person", true)
	wantErr(t, err, govx.KindNotFound, "subject_not_soft_deleted")

	if v, err := s.DeleteSchemaVersion(ctx, "test.person", catalog.LatestVersion, false); err != nil || v != 2 {
		t.Fatalf("soft delete of latest = %d, %v; want 2", v, err)
	}
	_, err = s.DeleteSchemaVersion(ctx, "test.person", 2, false)
	wantErr(t, err, govx.KindNotFound, "version_soft_deleted")
	if vs, err := s.SchemaVersions(ctx, "test.person", catalog.WithDeleted); err != nil || !reflect.DeepEqual(vs, []int{1, 2}) {
		t.Errorf("versions with deleted = %v, %v; want [1 2]", vs, err)
	}
	if v, err := s.DeleteSchemaVersion(ctx, "test.person", 2, true); err != nil || v != 2 {
		t.Fatalf("permanent delete = %d, %v; want 2", v, err)
	}
	if _, err := s.SchemaByID(ctx, id2); err != nil {
		t.Errorf("id %d, still held by test.other: %v", id2, err)
	}

	if vs, err := s.DeleteSubject(ctx, "test.person", false); err != nil || !reflect.DeepEqual(vs, []int{1}) {
		t.Fatalf("soft delete of the subject = %v, %v; want [1]", vs, err)
	}
	_, err = s.DeleteSubject(ctx, "test.person", false)
	wantErr(t, err, govx.KindNotFound, "subject_soft_deleted")
	if subs, err := s.Subjects(ctx, "test.", catalog.DeletedOnly); err != nil || !reflect.DeepEqual(subs, []string{"test.person"}) {
		t.Errorf("deleted subjects = %v, %v", subs, err)
	}
	if vs, err := s.DeleteSubject(ctx, "test.person", true); err != nil || !reflect.DeepEqual(vs, []int{1}) {
		t.Fatalf("permanent delete of the subject = %v, %v; want [1]", vs, err)
	}
	_, err = s.SchemaByID(ctx, id1)
	wantErr(t, err, govx.KindNotFound, "schema_not_found")
	_, err = s.DeleteSubject(ctx, "test.person", false)
	wantErr(t, err, govx.KindNotFound, "subject_not_found")
	if _, ok, err := s.OwnCompatibility(ctx, "test.person"); ok || err != nil {
		t.Errorf("the compatibility of a subject without versions stays: %v", err)
	}
	if _, ok, err := s.OwnMode(ctx, "test.person"); ok || err != nil {
		t.Errorf("the mode of a subject without versions stays: %v", err)
	}
}

// READONLY refuses every change of the subject, or of all, while reads,
// the ids of schemas already there and mode changes still work.
func TestReadOnlyMode(t *testing.T) {
	ctx := context.Background()
	s, _ := mustStore(t)
	id1 := mustRegister(t, s, "test.person", personV1)
	mustRegister(t, s, "test.other", personV1)
	if err := s.SetMode(ctx, "test.person", catalog.ReadOnly); err != nil {
		t.Fatal(err)
	}
	refused := func(what string, err error) {
		t.Helper()
		wantErr(t, err, govx.KindConflict, "operation_not_permitted")
		if !strings.Contains(govx.ErrorMessage(err), "read-only mode") {
			t.Errorf("%s: message %q", what, govx.ErrorMessage(err))
		}
	}
	_, err := s.RegisterSchema(ctx, "test.person", personV2)
	refused("register", err)
	if id, err := s.RegisterSchema(ctx, "test.person", personV1); err != nil || id != id1 {
		t.Errorf("a schema already there = %d, %v; want %d", id, err, id1)
	}
	_, err = s.DeleteSubject(ctx, "test.person", false)
	refused("delete subject", err)
	_, err = s.DeleteSchemaVersion(ctx, "test.person", 1, false)
	refused("delete version", err)
	refused("set compatibility", s.SetCompatibility(ctx, "test.person", catalog.None))
	mustRegister(t, s, "test.other", personV2)

	if err := s.SetMode(ctx, "", catalog.ReadOnly); err != nil {
		t.Fatal(err)
	}
	_, err = s.RegisterSchema(ctx, "test.third", personV2)
	refused("register under a registry in read-only mode", err)
	refused("set the registry's compatibility", s.SetCompatibility(ctx, "", catalog.None))
	if m, err := s.Mode(ctx, "test.third"); err != nil || m != catalog.ReadOnly {
		t.Errorf("mode in force = %q, %v", m, err)
	}
	if err := s.SetMode(ctx, "test.third", catalog.ReadWrite); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, s, "test.third", personV2)
	if m, err := s.DeleteMode(ctx, "test.person"); err != nil || m != catalog.ReadOnly {
		t.Errorf("DeleteMode = %q, %v; want READONLY", m, err)
	}
	_, err = s.DeleteMode(ctx, "test.person")
	wantErr(t, err, govx.KindNotFound, "subject_not_found")
	_, err = catalog.ParseSchemaMode("IMPORT")
	wantErr(t, err, govx.KindInvalid, "invalid_mode")
}
