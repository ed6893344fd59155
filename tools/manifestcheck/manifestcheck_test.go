package manifestcheck

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	sigsyaml "sigs.k8s.io/yaml"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func loadRepo(t *testing.T) (string, *Set) {
	t.Helper()
	root := repoRoot(t)
	set, err := LoadRepo(context.Background(), root)
	if err != nil {
		t.Fatalf("manifests do not validate:\n%v", err)
	}
	return root, set
}

// Every manifest strict-decodes into its real type; Knative objects default and validate.
func TestManifestsValidate(t *testing.T) {
	_, set := loadRepo(t)
	if len(set.Services) == 0 || len(set.Triggers) == 0 || len(set.Brokers) != 1 || len(set.PingSources) == 0 {
		t.Fatalf("unexpected manifest set: %d services, %d triggers, %d brokers, %d pingsources",
			len(set.Services), len(set.Triggers), len(set.Brokers), len(set.PingSources))
	}
	if got := BrokerClass(set.Brokers["default"]); got != "MTChannelBasedBroker" {
		t.Errorf("broker class %q", got)
	}
	t.Logf("validated %d objects (%d Knative Services, %d Triggers, %d PingSources)",
		len(set.Objects), len(set.Services), len(set.Triggers), len(set.PingSources))
}

func TestConsistency(t *testing.T) {
	root, set := loadRepo(t)
	docs := allDocs(t, root)
	for _, tc := range []struct {
		name  string
		check func() error
	}{
		{"every function has a Service", func() error { return CheckFunctionsHaveServices(root, set) }},
		{"service conventions", func() error { return CheckServiceConventions(set) }},
		{"services match the function declarations", func() error { return CheckFunctionDecls(root, set) }},
		{"references", func() error { return CheckReferences(set) }},
		{"routes", func() error { return CheckRoutes(root, set) }},
		{"events", func() error { return CheckEvents(root, set) }},
		{"local bus reads every trigger field", func() error { return CheckTriggerFieldsForLocalBus(docs) }},
		{"database budget", func() error { return CheckDatabaseBudget(set) }},
		{"secrets are templates", func() error { return CheckSecretsAreTemplates(set) }},
		{"images", func() error { return CheckImages(set) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func allDocs(t *testing.T, root string) []Doc {
	t.Helper()
	files, err := ManifestFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	var docs []Doc
	for _, f := range files {
		d, err := LoadFile(root, f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d...)
	}
	return docs
}

// Every manifest file is part of a kustomization, so nothing validated here is left out
// of what skaffold deploys (and nothing deployed escapes validation).
func TestKustomizationsListEveryFile(t *testing.T) {
	root := repoRoot(t)
	listed := map[string]bool{}
	kusts := []string{"knative", "k8s/base", "k8s/overlays/kind", "k8s/overlays/production"}
	for _, k := range kusts {
		data, err := os.ReadFile(filepath.Join(root, k, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var kust struct {
			Resources          []string `json:"resources"`
			ConfigMapGenerator []struct {
				Files []string `json:"files"`
			} `json:"configMapGenerator"`
		}
		if err := sigsyaml.Unmarshal(data, &kust); err != nil {
			t.Fatalf("%s/kustomization.yaml: %v", k, err)
		}
		for _, r := range kust.Resources {
			p := filepath.ToSlash(filepath.Join(k, r))
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("%s/kustomization.yaml: resource %s: %v", k, r, err)
			}
			listed[p] = true
		}
	}
	files, err := ManifestFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		switch {
		case strings.HasPrefix(f, "k8s/secrets/"): // applied by scripts/gen-secrets.sh
		case strings.HasPrefix(f, "k8s/jobs/"): // skaffold's migrate stage (skaffold.yaml)
		case !listed[f]:
			t.Errorf("%s is in no kustomization", f)
		}
	}
}

// When kubectl is installed, render each kustomization as skaffold will and validate every
// rendered object too (patches and generators included).
func TestKustomizeRender(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed: rendered kustomizations not checked (the sources are)")
	}
	root := repoRoot(t)
	for _, k := range []string{"knative", "k8s/overlays/kind", "k8s/overlays/production"} {
		t.Run(k, func(t *testing.T) {
			out, err := exec.Command(kubectl, "kustomize", filepath.Join(root, k)).Output()
			if err != nil {
				t.Fatalf("kubectl kustomize %s: %v", k, err)
			}
			docs, err := SplitDocuments(k+" (rendered)", out)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewSet(context.Background(), docs); err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				var m struct {
					Metadata struct {
						Namespace string `json:"namespace"`
					} `json:"metadata"`
				}
				_ = sigsyaml.Unmarshal(d.Raw, &m)
				if d.Kind != "Namespace" && m.Metadata.Namespace != Namespace {
					t.Errorf("%s: rendered into namespace %q, want %q", d, m.Metadata.Namespace, Namespace)
				}
			}
		})
	}
}

func TestKindConfig(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckKindConfig(data); err != nil {
		t.Fatal(err)
	}
	// The script pins the Kourier nodePorts that the kind config publishes.
	script, err := os.ReadFile(filepath.Join(root, "scripts/kind-up.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"31080", "31443", "kind-config.yaml"} {
		if !strings.Contains(string(script), p) {
			t.Errorf("scripts/kind-up.sh does not mention %s", p)
		}
	}
}

// The realm import carries the contract's realm, clients and roles
// (spec/backend-new-contract.md §3), and no literal password.
func TestKeycloakRealm(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "k8s/base/keycloak/sqal-realm.json"))
	if err != nil {
		t.Fatal(err)
	}
	var realm struct {
		Realm string `json:"realm"`
		Roles struct {
			Realm []struct {
				Name string `json:"name"`
			} `json:"realm"`
		} `json:"roles"`
		Clients []struct {
			ClientID string `json:"clientId"`
			Secret   string `json:"secret"`
		} `json:"clients"`
		Users []struct {
			Username    string `json:"username"`
			Credentials []struct {
				Value string `json:"value"`
			} `json:"credentials"`
		} `json:"users"`
	}
	if err := json.Unmarshal(data, &realm); err != nil {
		t.Fatal(err)
	}
	if realm.Realm != "sqal_realm" {
		t.Errorf("realm %q, want sqal_realm", realm.Realm)
	}
	roles := map[string]bool{}
	for _, r := range realm.Roles.Realm {
		roles[r.Name] = true
	}
	for _, want := range []string{"super_admin", "org_admin", "quality_manager", "production_operator", "data_analyst", "viewer",
		"admin", "superviseur", "gaveur", "technicien_sqal", "consommateur"} {
		if !roles[want] {
			t.Errorf("realm role %s missing", want)
		}
	}
	clients := map[string]string{}
	for _, c := range realm.Clients {
		clients[c.ClientID] = c.Secret
	}
	if _, ok := clients["sqal-frontend"]; !ok {
		t.Error("client sqal-frontend missing")
	}
	if s, ok := clients["backend-api"]; !ok || !strings.HasPrefix(s, "${") {
		t.Errorf("client backend-api missing or its secret is not a placeholder: %q", s)
	}
	for _, u := range realm.Users {
		for _, c := range u.Credentials {
			if !strings.HasPrefix(c.Value, "${") {
				t.Errorf("user %s: literal password committed", u.Username)
			}
		}
	}
}
