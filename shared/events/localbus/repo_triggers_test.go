package localbus

import (
	"os"
	"path/filepath"
	"testing"
)

// The repository's own Trigger manifests must be usable by the local bus: this is
// what keeps `make run` routing the same as the cluster.
func TestRepositoryTriggersLoad(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "knative", "triggers")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no %s: %v", dir, err)
	}
	ts, err := LoadTriggers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) == 0 {
		t.Fatalf("no Trigger in %s", dir)
	}
	for _, tr := range ts {
		t.Logf("%s -> %s%s", tr.Metadata.Name, tr.Spec.Subscriber.Service(), tr.Spec.Subscriber.Path())
	}
}
