package manifestcheck

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The checker must fail on broken manifests: each case breaks a real file of the
// repository in one place and expects the named check to report it.
func TestCheckerRejectsBrokenManifests(t *testing.T) {
	root := repoRoot(t)
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	alerts := read("knative/services/alerts.yaml")
	trigger := read("knative/triggers/alerts-sample-stored.yaml")
	ping := read("knative/sources/outbox-relay.yaml")
	broker := read("knative/eventing/broker.yaml")
	relay := read("knative/services/relay.yaml")
	deployment := read("k8s/base/redis.yaml")

	// decodeErr decodes a broken document on its own.
	decodeErr := func(file, doc string) error {
		docs, err := SplitDocuments(file, []byte(doc))
		if err != nil {
			return err
		}
		_, err = NewSet(context.Background(), docs)
		return err
	}
	// setErr builds a small valid set around one broken document and runs a check on it.
	setErr := func(check func(*Set) error, docs ...string) error {
		var all []Doc
		for i, d := range docs {
			ds, err := SplitDocuments("case"+string(rune('a'+i)), []byte(d))
			if err != nil {
				return err
			}
			all = append(all, ds...)
		}
		set, err := NewSet(context.Background(), all)
		if err != nil {
			return err
		}
		return check(set)
	}
	mustReplace := func(s, old, new string) string {
		t.Helper()
		if !strings.Contains(s, old) {
			t.Fatalf("test setup: %q not found", old)
		}
		return strings.Replace(s, old, new, 1)
	}

	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"min-scale above max-scale", func() error {
			return decodeErr("alerts.yaml", mustReplace(alerts, `min-scale: "0"`, `min-scale: "9"`))
		}, "min-scale"},
		{"containerConcurrency above 1000", func() error {
			return decodeErr("alerts.yaml", mustReplace(alerts, "containerConcurrency: 10", "containerConcurrency: 1001"))
		}, "containerConcurrency"},
		{"timeout above 600 s", func() error {
			return decodeErr("alerts.yaml", mustReplace(alerts, "timeoutSeconds: 60", "timeoutSeconds: 601"))
		}, "timeoutSeconds"},
		{"typo'd field", func() error {
			return decodeErr("alerts.yaml", mustReplace(alerts, "containerConcurrency:", "containerConcurency:"))
		}, "containerConcurency"},
		{"typo'd field in a Deployment", func() error {
			return decodeErr("redis.yaml", mustReplace(deployment, "readinessProbe:", "readinesProbe:"))
		}, "readinesProbe"},
		{"invalid CESQL filter", func() error {
			return decodeErr("trigger.yaml", mustReplace(trigger, "  filters:\n", "  filters:\n    - cesql: \"type = = 'x'\"\n"))
		}, "cesql"},
		{"bad backoff delay", func() error {
			return decodeErr("trigger.yaml", mustReplace(trigger, "backoffDelay: PT0.5S", "backoffDelay: half-a-second"))
		}, "backoffDelay"},
		{"bad cron schedule", func() error {
			return decodeErr("ping.yaml", mustReplace(ping, `schedule: "* * * * *"`, `schedule: "every minute"`))
		}, "schedule"},
		{"unknown kind", func() error {
			return decodeErr("x.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n")
		}, "no validator"},
		{"trigger subscriber does not exist", func() error {
			return setErr(CheckReferences, broker, relay, trigger) // no alerts Service
		}, `"alerts" does not exist`},
		{"trigger uses a field the local bus ignores", func() error {
			docs, _ := SplitDocuments("trigger.yaml", []byte(mustReplace(trigger, "    retry: 5\n", "    retry: 5\n    retryAfterMax: PT30S\n")))
			return CheckTriggerFieldsForLocalBus(docs)
		}, "spec.delivery.retryAfterMax"},
		{"trigger uses CESQL, which the local bus does not run", func() error {
			docs, _ := SplitDocuments("trigger.yaml", []byte(mustReplace(trigger, "  filters:\n", "  filters:\n    - cesql: \"type = 'x'\"\n")))
			return CheckTriggerFieldsForLocalBus(docs)
		}, "cesql"},
		{"pool not matched to concurrency", func() error {
			return setErr(CheckServiceConventions, mustReplace(alerts, `value: "10"`, `value: "25"`))
		}, "DB_MAX_CONNS 25"},
		{"scale-to-zero function kept warm", func() error {
			return setErr(CheckServiceConventions, mustReplace(alerts, `min-scale: "0"`, `min-scale: "1"`))
		}, "scale to zero"},
		{"event-only function made public", func() error {
			return setErr(CheckServiceConventions, mustReplace(alerts, "    networking.knative.dev/visibility: cluster-local\n", ""))
		}, "cluster-local"},
		{"readiness probe with periodSeconds", func() error {
			return setErr(CheckServiceConventions, mustReplace(alerts, "              path: /readyz\n", "              path: /readyz\n            periodSeconds: 5\n"))
		}, "periodSeconds"},
		{"privilege escalation allowed", func() error {
			return setErr(CheckServiceConventions, mustReplace(alerts, "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"))
		}, "allowPrivilegeEscalation"},
		{"image from a registry host", func() error {
			return setErr(CheckImages, mustReplace(deployment, "image: redis:7.4", "image: registry.example.org/redis:7.4"))
		}, "registry host"},
		{"literal secret committed", func() error {
			return setErr(CheckSecretsAreTemplates, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: hunter2\n")
		}, "literal value"},
		{"kind config typo", func() error {
			_, err := CheckKindConfig([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMapings: []\n"))
			return err
		}, "extraPortMapings"},
		{"kind config without Kourier ports", func() error {
			_, err := CheckKindConfig([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n"))
			return err
		}, "31080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil {
				t.Fatalf("checker accepted a broken manifest (want an error mentioning %q)", tc.want)
			}
			t.Logf("rejected: %v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not mention %q:\n%v", tc.want, err)
			}
		})
	}
}

// CheckEvents reports a subscribed type the catalogue does not list, and a catalogue type
// without subscriber that is not marked external.
func TestCheckEventsRejectsMismatch(t *testing.T) {
	root := repoRoot(t)
	_, set := loadRepo(t)
	tmp := t.TempDir()
	for _, dir := range []string{"knative", "shared/routes"} {
		if err := os.MkdirAll(filepath.Join(tmp, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	catalogue, err := os.ReadFile(filepath.Join(root, "knative/events.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(catalogue), "subscribers: [realtime]\n", "subscribers: []\n", 1)
	if broken == string(catalogue) {
		t.Fatal("test setup: no 'subscribers: [realtime]' line")
	}
	if err := os.WriteFile(filepath.Join(tmp, "knative/events.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	err = CheckEvents(tmp, set)
	if err == nil || !strings.Contains(err.Error(), "not marked external") {
		t.Fatalf("want a 'not marked external' error, got %v", err)
	}
}

// CheckFunctionDecls reports a Service whose target or dependencies differ from what its
// function package declares.
func TestCheckFunctionDeclsRejectsMismatch(t *testing.T) {
	root := repoRoot(t)
	tmp := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tmp, "functions/alerts"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := "package alerts\n\nvar F = runtime.Function{\n\tTarget:  \"Alarms\",\n\tNeeds:   runtime.Needs{DB: true, Events: true},\n}\n"
	if err := os.WriteFile(filepath.Join(tmp, "functions/alerts/alerts.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "knative/services/alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := SplitDocuments("alerts.yaml", []byte(strings.Replace(string(b), "name: DATABASE_URL", "name: DATABASE_URI", 1)))
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(context.Background(), docs)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckFunctionDecls(tmp, set)
	for _, want := range []string{`registers "Alarms"`, "no DATABASE_URL", "no broker address"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error mentioning %q, got %v", want, err)
		}
	}
}
