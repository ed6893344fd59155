package manifestcheck

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scripts/gen-secrets.sh renders every template into a valid Secret with no placeholder
// left, creating the .env with random values when it is missing.
func TestGenSecretsRendersTemplates(t *testing.T) {
	root := repoRoot(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	envFile := filepath.Join(t.TempDir(), "secrets.env")
	out, err := genSecrets(bash, root, envFile)
	if err != nil {
		t.Fatalf("gen-secrets.sh: %v", err)
	}
	if _, err := os.Stat(envFile); err != nil {
		t.Fatalf("no .env created: %v", err)
	}
	docs, err := SplitDocuments("gen-secrets output", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(context.Background(), docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"postgres-auth", "sqal-database", "pgbouncer-auth", "keycloak-auth"} {
		sec, ok := set.Secrets[want]
		if !ok {
			t.Errorf("Secret %s not rendered", want)
			continue
		}
		for k, v := range sec.StringData {
			if strings.Contains(v, "${") {
				t.Errorf("Secret %s key %s still has a placeholder: %q", want, k, v)
			}
		}
	}
	// Every Secret the workloads read is rendered (names and keys).
	_, repo := loadRepo(t)
	for _, o := range repo.Objects {
		for _, c := range podContainers(o.Value) {
			for _, e := range c.Env {
				if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil {
					sec, ok := set.Secrets[r.SecretKeyRef.Name]
					if _, has := sec.StringData[r.SecretKeyRef.Key]; !ok || !has {
						t.Errorf("%s reads Secret %s key %s, which gen-secrets.sh does not render", o, r.SecretKeyRef.Name, r.SecretKeyRef.Key)
					}
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					if _, ok := set.Secrets[ef.SecretRef.Name]; !ok {
						t.Errorf("%s reads Secret %s, which gen-secrets.sh does not render", o, ef.SecretRef.Name)
					}
				}
			}
		}
	}

	// A second run reuses the .env: same values, so a PostgreSQL volume keeps working.
	again, err := genSecrets(bash, root, envFile)
	if err != nil {
		t.Fatal(err)
	}
	if again != out {
		t.Error("a second run with the same .env rendered different Secrets")
	}
}

func genSecrets(bash, root, envFile string) (string, error) {
	cmd := exec.Command(bash, filepath.Join(root, "scripts/gen-secrets.sh"))
	cmd.Env = append(os.Environ(), "SQAL_SECRETS_ENV="+envFile)
	out, err := cmd.Output()
	return string(out), err
}
