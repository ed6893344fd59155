package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sqalfn/sqal/shared/localstack"
)

// Up starts the shared server once and reuses it; Down stops it and removes its
// files. Runs in a workspace of its own so the real shared server is not touched.
func TestUpDown(t *testing.T) {
	root, err := os.MkdirTemp("", "sqal-testenv-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	// The postgres account must reach the cluster folder when tests run as root.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "functions", "x")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	if got, want := Dir(), filepath.Join(root, ".local", "testenv"); got != want {
		t.Fatalf("Dir() = %s, want %s", got, want)
	}

	ctx := context.Background()
	first, err := Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer localstack.StopDetached(first.PostgresPID, "postgres", 0) // only if the test fails midway
	second, err := Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.PostgresPID != first.PostgresPID || second.PostgresURL != first.PostgresURL {
		t.Errorf("second Up started another server: %+v vs %+v", second, first)
	}
	if err := Down(ctx); err != nil {
		t.Fatal(err)
	}
	if localstack.Alive(first.PostgresPID, "postgres") {
		t.Errorf("postgres %d still running after Down", first.PostgresPID)
	}
	if _, err := os.Stat(first.PostgresDir); !os.IsNotExist(err) {
		t.Errorf("cluster folder %s left behind: %v", first.PostgresDir, err)
	}
	if err := Down(ctx); err != nil {
		t.Errorf("second Down: %v", err)
	}
}
