package database_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

const orgB = "0b000000-0000-4000-8000-00000000000b"

// seedTwoOrgs stores one sample in the default organisation and one in orgB, as the
// owner (who bypasses nothing but sets no scope: superusers bypass RLS).
func seedTwoOrgs(t *testing.T) (*database.DB, context.Context) {
	t.Helper()
	app, owner := testenv.AppDB(t)
	ctx := context.Background()
	if _, err := owner.Exec(ctx, `INSERT INTO organizations (id, name, type) VALUES ($1, 'Org B', 'enterprise')`, orgB); err != nil {
		t.Fatalf("seed organisation: %v", err)
	}
	if _, err := owner.Exec(ctx, `INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade, organization_id)
		VALUES (now(), 'dev-a', 'S-A', 0.9, 'A', $1), (now(), 'dev-b', 'S-B', 0.8, 'B', $2)`, tenant.DefaultOrganization, orgB); err != nil {
		t.Fatalf("seed samples: %v", err)
	}
	return database.NewDB(app), ctx
}

func sampleIDs(t *testing.T, db *database.DB, ctx context.Context) []string {
	t.Helper()
	return testenv.Strings(t, ctx, db, `SELECT sample_id FROM sensor_samples ORDER BY sample_id`)
}

func TestAppRoleCannotBypassRLS(t *testing.T) {
	db, ctx := seedTwoOrgs(t)
	var super, bypass bool
	if err := db.Pool.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&super, &bypass); err != nil {
		t.Fatal(err)
	}
	if super || bypass {
		t.Fatalf("application role: superuser=%v bypassrls=%v, want neither", super, bypass)
	}
	if got, err := database.RowSecurity(ctx, db.Pool); got != "enforced" || err != nil {
		t.Fatalf("RowSecurity(app) = %q, %v", got, err)
	}
	if got, err := database.RowSecurity(ctx, testenv.DB(t)); got != "bypassed" || err != nil {
		t.Fatalf("RowSecurity(superuser) = %q, %v", got, err)
	}
}

func TestScopeDecidesWhatAQuerySees(t *testing.T) {
	db, ctx := seedTwoOrgs(t)
	cases := []struct {
		name string
		ctx  context.Context
		want []string
	}{
		{"no scope sees nothing", ctx, nil},
		{"default organisation", tenant.With(ctx, tenant.Org(tenant.DefaultOrganization)), []string{"S-A"}},
		{"organisation B", tenant.With(ctx, tenant.Org(orgB)), []string{"S-B"}},
		{"all organisations", tenant.With(ctx, tenant.All()), []string{"S-A", "S-B"}},
		{"unknown organisation", tenant.With(ctx, tenant.Org("0c000000-0000-4000-8000-00000000000c")), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := sampleIDs(t, db, tc.ctx); !slices.Equal(got, tc.want) {
				t.Fatalf("Query sees %v, want %v", got, tc.want)
			}
			var n int
			if err := db.QueryRow(tc.ctx, `SELECT count(*) FROM sensor_samples`).Scan(&n); err != nil || n != len(tc.want) {
				t.Fatalf("QueryRow count = %d, %v; want %d", n, err, len(tc.want))
			}
			tag, err := db.Exec(tc.ctx, `UPDATE sensor_samples SET fusion_final_score = fusion_final_score`)
			if err != nil || tag.RowsAffected() != int64(len(tc.want)) {
				t.Fatalf("Exec updated %d rows, %v; want %d", tag.RowsAffected(), err, len(tc.want))
			}
			tx, err := db.Begin(tc.ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM sensor_samples`).Scan(&n); err != nil || n != len(tc.want) {
				t.Fatalf("transaction count = %d, %v; want %d", n, err, len(tc.want))
			}
			b := &pgx.Batch{}
			b.Queue(`SELECT count(*) FROM sensor_samples`)
			br := db.SendBatch(tc.ctx, b)
			if err := br.QueryRow().Scan(&n); err != nil || n != len(tc.want) {
				t.Fatalf("batch count = %d, %v; want %d", n, err, len(tc.want))
			}
			if err := br.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWritesStayInTheirOrganisation(t *testing.T) {
	db, ctx := seedTwoOrgs(t)
	inA := tenant.With(ctx, tenant.Org(tenant.DefaultOrganization))

	// Without naming it, a row takes the organisation of its transaction.
	if _, err := db.Exec(inA, `INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade)
		VALUES (now(), 'dev-a', 'S-A2', 0.7, 'B')`); err != nil {
		t.Fatalf("insert in scope: %v", err)
	}
	var org string
	if err := db.QueryRow(tenant.With(ctx, tenant.All()), `SELECT organization_id::text FROM sensor_samples WHERE sample_id = 'S-A2'`).Scan(&org); err != nil || org != tenant.DefaultOrganization {
		t.Fatalf("organisation of the new row = %q, %v", org, err)
	}
	// Writing into another organisation, or without a scope, is refused by the database.
	for name, c := range map[string]context.Context{"other organisation": inA, "no scope": ctx} {
		_, err := db.Exec(c, `INSERT INTO sensor_samples ("timestamp", device_id, sample_id, fusion_final_score, fusion_final_grade, organization_id)
			VALUES (now(), 'dev-b', 'S-X', 0.7, 'B', $1)`, orgB)
		if err == nil || !strings.Contains(err.Error(), "row-level security") {
			t.Errorf("%s: insert into organisation B: %v, want a row-level security error", name, err)
		}
	}
	// Moving a row out of its organisation is refused as well.
	if _, err := db.Exec(inA, `UPDATE sensor_samples SET organization_id = $1 WHERE sample_id = 'S-A'`, orgB); err == nil {
		t.Error("moved a row to another organisation")
	}
	// Deleting another organisation's rows deletes nothing.
	tag, err := db.Exec(inA, `DELETE FROM sensor_samples WHERE sample_id = 'S-B'`)
	if err != nil || tag.RowsAffected() != 0 {
		t.Fatalf("delete of organisation B's sample: %d rows, %v", tag.RowsAffected(), err)
	}
	// COPY is refused under row-level security, whatever the scope (the functions
	// INSERT; DB deliberately has no scoped CopyFrom).
	_, err = db.Pool.CopyFrom(inA, pgx.Identifier{"sensor_samples"}, []string{"timestamp", "device_id", "sample_id", "fusion_final_score", "fusion_final_grade"},
		pgx.CopyFromRows([][]any{{time.Now(), "dev-a", "S-C", 0.5, "C"}}))
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Fatalf("COPY as the application role: %v, want a row-level security refusal", err)
	}
}

func TestScopeDoesNotOutliveItsStatement(t *testing.T) {
	db, ctx := seedTwoOrgs(t)
	for range 5 {
		if got := sampleIDs(t, db, tenant.With(ctx, tenant.All())); len(got) != 2 {
			t.Fatalf("all organisations: %v", got)
		}
	}
	for range 5 {
		var setting *string
		if err := db.Pool.QueryRow(ctx, `SELECT NULLIF(current_setting('app.all_organizations', true), '')`).Scan(&setting); err != nil {
			t.Fatal(err)
		}
		if setting != nil && *setting == "on" {
			t.Fatal("app.all_organizations survived its batch on a pooled connection")
		}
	}
	if got := sampleIDs(t, db, ctx); len(got) != 0 {
		t.Fatalf("unscoped query after scoped ones sees %v", got)
	}
}

func TestNoRowsAndErrorsKeepPgxSemantics(t *testing.T) {
	db, ctx := seedTwoOrgs(t)
	var id string
	if err := db.QueryRow(ctx, `SELECT sample_id FROM sensor_samples`).Scan(&id); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("QueryRow on nothing: %v, want pgx.ErrNoRows", err)
	}
	if _, err := db.Query(ctx, `SELECT no_such_column FROM sensor_samples`); err == nil {
		t.Fatal("bad SQL: no error")
	}
	if _, err := db.Exec(ctx, `SELECT 1/0`); err == nil {
		t.Fatal("division by zero: no error")
	}
	// The pool is still usable after failures (connections were released).
	for range 20 {
		if got := sampleIDs(t, db, tenant.With(ctx, tenant.All())); len(got) != 2 {
			t.Fatalf("after errors: %v", got)
		}
	}
}

// BeginWith runs its statement in the scope of ctx, inside the transaction it returns;
// a failing statement leaves no transaction or connection behind.
func TestBeginWith(t *testing.T) {
	db, ctx := seedTwoOrgs(t)
	inA := tenant.With(ctx, tenant.Org(tenant.DefaultOrganization))
	tx, tag, err := db.BeginWith(inA, `UPDATE sensor_samples SET lot_id = 7`)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 1 {
		t.Errorf("the statement touched %d rows, want the one of its organisation", tag.RowsAffected())
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Rolled back with the transaction it ran in.
	if n := len(testenv.Strings(t, inA, db, `SELECT sample_id FROM sensor_samples WHERE lot_id = 7`)); n != 0 {
		t.Errorf("%d rows kept the rolled-back update", n)
	}

	if _, _, err := db.BeginWith(inA, `SELECT 1/0`); err == nil {
		t.Fatal("a failing statement began a transaction")
	}
	if n := db.Stat().AcquiredConns(); n != 0 {
		t.Errorf("%d connections still held after the failure", n)
	}
}
