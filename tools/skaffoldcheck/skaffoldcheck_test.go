package skaffoldcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The tests run from the repository root, as skaffold does.
func TestMain(m *testing.M) {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			if err := os.Chdir(d); err != nil {
				panic(err)
			}
			break
		}
		if filepath.Dir(d) == d {
			panic("no go.work above " + dir)
		}
	}
	os.Exit(m.Run())
}

func TestSkaffoldConfig(t *testing.T) {
	cfgs, err := Parse("skaffold.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, profiles := range [][]string{nil, {"production"}} {
		if _, err := WithProfiles("skaffold.yaml", profiles); err != nil {
			t.Error(err)
		}
	}
	for name, check := range map[string]func() error{
		"artifacts":       func() error { return CheckArtifacts(".", cfgs) },
		"manifest images": func() error { return CheckManifestImages(".", cfgs) },
		"deploy order":    func() error { return CheckOrder(cfgs) },
	} {
		t.Run(name, func(t *testing.T) {
			if err := check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// A profile whose patch targets a path that does not exist fails like `skaffold -p` would.
func TestRejectsBrokenProfile(t *testing.T) {
	orig, err := os.ReadFile("skaffold.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string][2]string{
		"bad patch path":  {"path: /manifests/kustomize/paths/0", "path: /manifests/kustomise/paths/0"},
		"missing overlay": {"value: k8s/overlays/production", "value: k8s/overlays/staging"},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(string(orig), c[0]) {
				t.Fatalf("test setup: %q not in skaffold.yaml", c[0])
			}
			broken := filepath.Join(t.TempDir(), "skaffold.yaml")
			if err := os.WriteFile(broken, []byte(strings.Replace(string(orig), c[0], c[1], 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := WithProfiles(broken, nil); err != nil {
				t.Fatalf("without the profile the config is fine: %v", err)
			}
			_, err := WithProfiles(broken, []string{"production"})
			if err == nil {
				t.Fatal("checker accepted a broken profile")
			}
			t.Logf("rejected: %v", err)
		})
	}
}

// The checker fails on a broken skaffold.yaml.
func TestRejectsBrokenConfig(t *testing.T) {
	orig, err := os.ReadFile("skaffold.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"typo'd field", "    dependencies:\n", "    dependancies:\n", "dependancies"},
		{"old schema version", "apiVersion: skaffold/v4beta13", "apiVersion: skaffold/v4beta12", "v4beta12"},
		{"unknown builder field", "flags: [\"-trimpath\"]", "flagz: [\"-trimpath\"]", "flagz"},
		{"shared/ not a dependency", `paths: ["functions/alerts/**", "shared/**"`, `paths: ["functions/alerts/**"`, `lacks "shared/**"`},
		{"function without artifact", "- image: ko://github.com/sqalfn/sqal/functions/gateway/cmd", "- image: ko://github.com/sqalfn/sqal/functions/gateway2/cmd", "no skaffold artifact"},
		{"functions before migration", "  - configs: [migrate]\n", "  - configs: [infra]\n", "must require"},
		{"missing required field", `            command: ["sh", "-c", "kubectl --context \"$SKAFFOLD_KUBE_CONTEXT\" -n sqal wait --for=condition=complete job/sqal-migrate --timeout=600s"]`, "", "required"},
		{"two builders for one artifact", "      ko:\n        dir: functions/gateway\n", "      docker: {}\n      ko:\n        dir: functions/gateway\n", "only one element"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(orig), tc.old) {
				t.Fatalf("test setup: %q not in skaffold.yaml", tc.old)
			}
			broken := filepath.Join(t.TempDir(), "skaffold.yaml")
			if err := os.WriteFile(broken, []byte(strings.Replace(string(orig), tc.old, tc.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			cfgs, err := Parse(broken)
			if err == nil {
				err = CheckArtifacts(".", cfgs)
			}
			if err == nil {
				err = CheckManifestImages(".", cfgs)
			}
			if err == nil {
				err = CheckOrder(cfgs)
			}
			if err == nil {
				t.Fatalf("checker accepted a broken skaffold.yaml (want an error mentioning %q)", tc.want)
			}
			t.Logf("rejected: %v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not mention %q:\n%v", tc.want, err)
			}
		})
	}
}
