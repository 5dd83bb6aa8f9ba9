package legalentity_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"govx/adapters/legalentity"
	"govx/catalog"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

func TestCatalog(t *testing.T) {
	dept, resources := legalentity.Catalog()
	if dept.Code != legalentity.Department || dept.Name == "" {
		t.Errorf("department %+v", dept)
	}
	if len(resources) != 2 {
		t.Fatalf("%d resources, want 2", len(resources))
	}
	for _, r := range resources {
		t.Run(r.Code, func(t *testing.T) {
			if !catalog.ValidCode(r.Code) || r.Provider != dept.Code || r.KeyType != catalog.KeyUSCC ||
				r.Sharing != catalog.Unconditional || r.SchemaSubject != r.Code {
				t.Errorf("resource %+v", r)
			}
			if r.Name == "" || r.Classification == "" || r.Summary == "" || r.Format != "avro" || len(r.Methods) == 0 ||
				r.OpenClass == "" || r.UpdateCycle == "" || r.LegalBasis == "" || r.PublishedOn == "" {
				t.Errorf("resource %s lacks catalogue metadata: %+v", r.Code, r)
			}
			// The catalogue's fields are the schema's, in its order.
			text, err := schemas.Text(r.SchemaSubject)
			if err != nil {
				t.Fatal(err)
			}
			var avsc struct {
				Fields []struct {
					Name    string `json:"name"`
					Type    any    `json:"type"`
					Default any    `json:"default"`
				} `json:"fields"`
			}
			if err := json.Unmarshal([]byte(text), &avsc); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range avsc.Fields {
				names = append(names, f.Name)
				if u, ok := f.Type.([]any); !ok || len(u) != 2 || u[0] != "null" || f.Default != nil {
					t.Errorf("schema field %s is not nullable with default null", f.Name)
				}
			}
			if !slices.Equal(names, r.FieldNames()) {
				t.Errorf("catalogue fields %v, schema fields %v", r.FieldNames(), names)
			}
			for _, f := range r.Fields {
				personal := f.Name == "legal_representative" || f.Name == "legal_representative_id_number"
				if f.Personal != personal || f.Type == "" || f.Description == "" {
					t.Errorf("field %+v", f)
				}
			}
		})
	}
	if resources[1].OpenClass != catalog.Open || resources[0].OpenClass == catalog.Open {
		t.Errorf("open classes %s, %s: only the status, without personal data, is open", resources[0].OpenClass, resources[1].OpenClass)
	}
}

func TestSeedCatalog(t *testing.T) {
	ctx := context.Background()
	store := catalog.NewStore(postgrestest.NewMigrated(t, catalog.MigrationSource()))
	// The register's resources name population.identity as related.
	if err := catalog.SeedDemo(ctx, store); err != nil {
		t.Fatal(err)
	}
	for range 2 { // idempotent
		if err := legalentity.SeedCatalog(ctx, store); err != nil {
			t.Fatalf("SeedCatalog: %v", err)
		}
	}
	for _, code := range []string{legalentity.ResourceBasic, legalentity.ResourceStatus} {
		r, err := store.Resource(ctx, code)
		if err != nil || r.Provider != legalentity.Department || r.KeyType != catalog.KeyUSCC {
			t.Errorf("Resource(%s) = %+v, %v", code, r, err)
		}
	}
	providers, err := store.Providers(ctx)
	if err != nil || !slices.Contains(providers, legalentity.Department) {
		t.Errorf("Providers = %v, %v", providers, err)
	}
}
