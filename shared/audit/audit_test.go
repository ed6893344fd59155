package audit

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sqalfn/sqal/shared/telemetry"
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
