package audit

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/telemetry"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

func TestRecordAndVerify(t *testing.T) {
	db := testenv.DB(t)
	ctx := context.Background()
	rep, err := Verify(ctx, db)
	if err != nil || !rep.Valid || rep.Checked != 0 {
		t.Fatalf("empty chain: %+v %v", rep, err)
	}
	req := httptest.NewRequest("POST", "/api/admin/users/", nil)
	req.RemoteAddr = "10.1.2.3:5555"
	req.Header.Set("User-Agent", "test-agent")
	req = req.WithContext(telemetry.WithRequestID(WithActor(req.Context(), Actor{ID: "sub-1", Name: "alice",
		OrganizationID: "00000000-0000-4000-8000-000000000001"}), "req-42"))
	e := FromRequest(req, ActionCreate, "user", "u1")
	e.Details = "Utilisateur créé"
	e.Changes = map[string]any{"after": map[string]any{"username": "bob", "z": 1, "a": []int{1, 2}}}
	if err := Record(ctx, db, e); err != nil {
		t.Fatal(err)
	}
	// Concurrent writers keep one linear chain (the advisory lock).
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := Record(ctx, db, Entry{Action: ActionUpdate, ResourceType: "device", ResourceID: "d", UserName: "bob"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rep, err = Verify(ctx, db)
	if err != nil || !rep.Valid || rep.Checked != 21 {
		t.Fatalf("chain of 21: %+v %v", rep, err)
	}
	var ip, rid, user, org string
	if err := db.QueryRow(ctx, `SELECT ip_address, request_id, user_name, organization_id::text FROM audit_log ORDER BY seq LIMIT 1`).
		Scan(&ip, &rid, &user, &org); err != nil {
		t.Fatal(err)
	}
	if ip != "10.1.2.3" || rid != "req-42" || user != "alice" || org != "00000000-0000-4000-8000-000000000001" {
		t.Fatalf("row: %s %s %s %s", ip, rid, user, org)
	}
}

// TestAppendOnly: the application cannot rewrite history; even the owner is refused by
// the triggers.
func TestAppendOnly(t *testing.T) {
	db := testenv.DB(t)
	ctx := context.Background()
	if err := Record(ctx, db, Entry{Action: ActionLogin, ResourceType: "auth"}); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`UPDATE audit_log SET user_name = 'mallory'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
	} {
		if _, err := db.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: want refusal, got %v", sql, err)
		}
	}
}

// TestVerifyDetectsTampering edits, deletes and forges rows as a superuser who turned
// the triggers off, and checks Verify points at the broken row.
func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper string
		at     int64
		reason string
	}{
		{"edited detail", `UPDATE audit_log SET details = 'rien à signaler' WHERE seq = 3`, 3, "modified"},
		{"edited actor", `UPDATE audit_log SET user_name = 'mallory' WHERE seq = 2`, 2, "modified"},
		{"edited timestamp", `UPDATE audit_log SET timestamp = timestamp - interval '1 day' WHERE seq = 4`, 4, "modified"},
		{"deleted row", `DELETE FROM audit_log WHERE seq = 2`, 3, "previous hash"},
		{"rehashed row", `UPDATE audit_log SET hash = sha256(hash) WHERE seq = 2`, 2, "modified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := testenv.DB(t)
			ctx := context.Background()
			for i := 0; i < 5; i++ {
				if err := Record(ctx, db, Entry{Action: ActionUpdate, ResourceType: "settings", Details: "x"}); err != nil {
					t.Fatal(err)
				}
			}
			conn, err := db.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			// Triggers do not fire in replica mode: what a superuser could do by hand.
			if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, tt.tamper); err != nil {
				t.Fatal(err)
			}
			_, _ = conn.Exec(ctx, `SET session_replication_role = origin`)
			rep, err := Verify(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Valid || rep.BrokenAt == nil || *rep.BrokenAt != tt.at || !strings.Contains(rep.Reason, tt.reason) {
				t.Fatalf("tampering not detected as expected: %+v", rep)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct{ remote, xff, want string }{
		{"10.0.0.1:123", "", "10.0.0.1"},
		{"10.0.0.1:123", "203.0.113.9, 10.0.0.2", "203.0.113.9"},
		{"10.0.0.1:123", "garbage", "10.0.0.1"},
		{"[::1]:80", "", "::1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := ClientIP(r); got != tt.want {
			t.Errorf("ClientIP(%s, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}

const (
	orgA = tenant.DefaultOrganization
	orgB = "0b000000-0000-4000-8000-00000000000b"
)

// TestTenantIsolationChains: each organisation appends to its own chain through the
// application role (row-level security); both verify; an organisation verifies (and
// lists) only its own rows; an edited row is found in its organisation's chain only.
func TestTenantIsolationChains(t *testing.T) {
	app, owner := testenv.AppDB(t)
	db := database.NewDB(app)
	ctx := context.Background()
	if _, err := owner.Exec(ctx, `INSERT INTO organizations (id, name, type) VALUES ($1, 'Org B', 'enterprise')`, orgB); err != nil {
		t.Fatal(err)
	}
	inA, inB, all := tenant.With(ctx, tenant.Org(orgA)), tenant.With(ctx, tenant.Org(orgB)), tenant.With(ctx, tenant.All())
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		for _, c := range []context.Context{inA, inB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := Record(c, db, Entry{Action: ActionUpdate, ResourceType: "device", ResourceID: fmt.Sprint(i)}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	// System work (no organisation) has a chain of its own, visible to All only.
	if err := Record(all, db, Entry{Action: ActionUpdate, ResourceType: "ai_model"}); err != nil {
		t.Fatal(err)
	}
	// The actor's organisation wins over the scope's absence of one (super_admin).
	if err := Record(all, db, Entry{Action: ActionLogin, ResourceType: "auth", OrganizationID: orgB}); err != nil {
		t.Fatal(err)
	}
	var nA, nB, nNull int
	if err := owner.QueryRow(ctx, `SELECT count(*) FILTER (WHERE organization_id = $1), count(*) FILTER (WHERE organization_id = $2),
		count(*) FILTER (WHERE organization_id IS NULL) FROM audit_log`, orgA, orgB).Scan(&nA, &nB, &nNull); err != nil {
		t.Fatal(err)
	}
	if nA != 10 || nB != 11 || nNull != 1 {
		t.Fatalf("rows per organisation: A=%d B=%d none=%d, want 10 11 1", nA, nB, nNull)
	}
	rep, err := Verify(all, db)
	if err != nil || !rep.Valid || rep.Checked != 22 || len(rep.Chains) != 3 {
		t.Fatalf("all chains: %+v %v", rep, err)
	}
	for _, tc := range []struct {
		ctx  context.Context
		org  string
		want int64
	}{{inA, orgA, 10}, {inB, orgB, 11}} {
		rep, err := Verify(tc.ctx, db)
		if err != nil || !rep.Valid || rep.Checked != tc.want || len(rep.Chains) != 1 ||
			rep.Chains[0].OrganizationID == nil || *rep.Chains[0].OrganizationID != tc.org || rep.Head == "" {
			t.Fatalf("chain of %s: %+v %v", tc.org, rep, err)
		}
	}
	// The application role cannot rewrite history, even in its own organisation.
	if _, err := db.Exec(inA, `UPDATE audit_log SET details = 'x'`); err == nil {
		t.Fatal("the application role updated audit_log")
	}

	// The owner edits a row of B with the trigger off.
	var seqB int64
	if err := owner.QueryRow(ctx, `SELECT seq FROM audit_log WHERE organization_id = $1 ORDER BY seq OFFSET 4 LIMIT 1`, orgB).Scan(&seqB); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`,
		fmt.Sprintf(`UPDATE audit_log SET resource_id = 'forged' WHERE seq = %d`, seqB),
		`ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update`,
	} {
		if _, err := owner.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	rep, err = Verify(inB, db)
	if err != nil || rep.Valid || rep.BrokenAt == nil || *rep.BrokenAt != seqB || !strings.Contains(rep.Reason, "modified") {
		t.Fatalf("edited row of B not found in B's chain: %+v %v", rep, err)
	}
	if rep, err := Verify(inA, db); err != nil || !rep.Valid || rep.Checked != 10 {
		t.Fatalf("A's chain after B's edit: %+v %v", rep, err)
	}
	rep, err = Verify(all, db)
	if err != nil || rep.Valid || *rep.BrokenAt != seqB {
		t.Fatalf("all chains after B's edit: %+v %v", rep, err)
	}
	for _, c := range rep.Chains {
		broken := c.OrganizationID != nil && *c.OrganizationID == orgB
		if c.Valid == broken || (broken && *c.BrokenAt != seqB) {
			t.Errorf("chain %v: %+v", c.OrganizationID, c)
		}
	}
	// Appends still work and the other chains stay valid.
	if err := Record(inA, db, Entry{Action: ActionDelete, ResourceType: "device"}); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(inA, db); err != nil || !rep.Valid || rep.Checked != 11 {
		t.Fatalf("A's chain after an append: %+v %v", rep, err)
	}
}

// TestLegacyGlobalChain: rows written before organisations formed one chain mixing the
// default organisation and rows without one (anonymous callers of open mode). They still
// verify, in the cross-organisation scope and in the default organisation's (whose
// links to rows it does not see are checked through them), and the per-organisation
// appends that follow link to them; a deleted row is found in both scopes.
func TestLegacyGlobalChain(t *testing.T) {
	app, owner := testenv.AppDB(t)
	db := database.NewDB(app)
	ctx := context.Background()
	prev := make([]byte, 32)
	var seqs []int64
	for i := 0; i < 6; i++ {
		e := Entry{ID: uuid.New(), Timestamp: time.Now().UTC().Truncate(time.Microsecond), UserName: "anonymous",
			Action: ActionUpdate, ResourceType: "settings", Status: "success"}
		if i%2 == 0 {
			e.OrganizationID = orgA
		}
		r := rowOf(e, nil)
		h := r.hash(prev)
		var seq int64
		if err := owner.QueryRow(ctx, `INSERT INTO audit_log (id, timestamp, user_name, action, resource_type, status,
			organization_id, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING seq`,
			e.ID, e.Timestamp, e.UserName, e.Action, e.ResourceType, e.Status, r.OrganizationID, prev, h).Scan(&seq); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
		prev = h
	}
	all, inA := tenant.With(ctx, tenant.All()), tenant.With(ctx, tenant.Org(orgA))
	for _, tc := range []struct {
		name string
		ctx  context.Context
		db   Querier
		want int64
	}{{"all", all, db, 6}, {"owner", ctx, owner, 6}, {"A", inA, db, 3}} {
		if rep, err := Verify(tc.ctx, tc.db); err != nil || !rep.Valid || rep.Checked != tc.want {
			t.Fatalf("legacy chain (%s): %+v %v", tc.name, rep, err)
		}
	}
	for _, c := range []context.Context{inA, all} {
		if err := Record(c, db, Entry{Action: ActionCreate, ResourceType: "user"}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Verify(all, db)
	if err != nil || !rep.Valid || rep.Checked != 8 || len(rep.Chains) != 2 {
		t.Fatalf("legacy chain and new appends: %+v %v", rep, err)
	}
	if rep, err := Verify(inA, db); err != nil || !rep.Valid || rep.Checked != 4 {
		t.Fatalf("A's legacy chain and new append: %+v %v", rep, err)
	}
	// A deleted legacy row of A (the third row) is still found: by the next row of the
	// global chain (no organisation) for All, by A's next row for A.
	for _, sql := range []string{
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update`,
		fmt.Sprintf(`DELETE FROM audit_log WHERE seq = %d`, seqs[2]),
		`ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update`,
	} {
		if _, err := owner.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		at   int64
	}{{"all", all, seqs[3]}, {"A", inA, seqs[4]}} {
		rep, err := Verify(tc.ctx, db)
		if err != nil || rep.Valid || *rep.BrokenAt != tc.at || !strings.Contains(rep.Reason, "previous hash") {
			t.Fatalf("deleted legacy row (%s): %+v %v, want broken at %d", tc.name, rep, err, tc.at)
		}
	}
}
