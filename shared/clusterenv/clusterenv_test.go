package clusterenv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEnvOfTheRepositoryManifests(t *testing.T) {
	root := filepath.Join("..", "..")
	svc, err := ServiceEnv(root, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	if svc["FUNCTION_TARGET"] != "Ingest" || svc["GOMEMLIMIT"] == "" {
		t.Fatalf("ingest Service env = %v", svc)
	}
	if _, ok := svc["DATABASE_URL"]; ok {
		t.Fatal("a Secret reference was returned as a literal value")
	}
	all, err := ContainerEnv(root, "ingest")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) <= len(svc) || all["FUNCTION_TARGET"] != "Ingest" {
		t.Fatalf("container env lacks the ConfigMap: %v", all)
	}
	if _, err := ServiceEnv(root, "no-such-function"); err == nil {
		t.Fatal("no error for a function without a Service")
	}
}

func TestMalformedService(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "knative", "services"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "knative", "services", "x.yaml"), []byte("spec: ["), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ServiceEnv(root, "x"); err == nil {
		t.Fatal("no error for malformed YAML")
	}
}
