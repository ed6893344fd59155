package manifestcheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	targetDecl = regexp.MustCompile(`Target:\s*"([A-Za-z0-9_]+)"`)
	needsDecl  = regexp.MustCompile(`Needs:\s*runtime\.Needs\{([^}]*)\}`)
)

// FunctionDecl is what a function package declares to the shared runtime.
type FunctionDecl struct {
	Target            string
	DB, Redis, Events bool
}

// ReadFunctionDecl reads the runtime.Function declaration of functions/<name> from its
// non-test Go files (Target and Needs), without compiling it.
func ReadFunctionDecl(root, name string) (FunctionDecl, error) {
	var d FunctionDecl
	files, err := filepath.Glob(filepath.Join(root, "functions", name, "*.go"))
	if err != nil {
		return d, err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return d, fmt.Errorf("read %s: %w", f, err)
		}
		if m := targetDecl.FindSubmatch(src); m != nil && d.Target == "" {
			d.Target = string(m[1])
		}
		if m := needsDecl.FindSubmatch(src); m != nil {
			needs := strings.ReplaceAll(string(m[1]), " ", "")
			// Outbox implies DB and Events (runtime.NewEnv): the function relays its
			// outbox to the broker while it runs.
			outbox := strings.Contains(needs, "Outbox:true")
			d.DB = d.DB || outbox || strings.Contains(needs, "DB:true")
			d.Redis = d.Redis || strings.Contains(needs, "Redis:true")
			d.Events = d.Events || outbox || strings.Contains(needs, "Events:true")
		}
	}
	return d, nil
}

// CheckFunctionDecls: each Service runs the function target its package registers and
// gives it the dependencies it declares (DATABASE_URL for DB, REDIS_URL for Redis, a broker
// address for Events, the last two through the sqal-config ConfigMap).
func CheckFunctionDecls(root string, s *Set) error {
	var errs []error
	shared := s.ConfigMaps["sqal-config"]
	for _, name := range sortedKeys(s.Services) {
		if _, err := os.Stat(filepath.Join(root, "functions", name)); err != nil {
			continue // function not written yet; CheckFunctionsHaveServices covers the other way
		}
		d, err := ReadFunctionDecl(root, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c := s.Services[name].Spec.Template.Spec.Containers[0]
		env := envMap(c.Env)
		_, hasDB := env["DATABASE_URL"]
		fromShared := false
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == "sqal-config" {
				fromShared = true
			}
		}
		sharedHas := func(k string) bool { return fromShared && shared != nil && shared.Data[k] != "" }
		if d.Target != "" && env["FUNCTION_TARGET"] != d.Target {
			errs = append(errs, fmt.Errorf("knative Service %s: FUNCTION_TARGET %q, but functions/%s registers %q", name, env["FUNCTION_TARGET"], name, d.Target))
		}
		if d.DB && !hasDB {
			errs = append(errs, fmt.Errorf("knative Service %s: functions/%s needs a database but gets no DATABASE_URL", name, name))
		}
		if !d.DB && hasDB {
			errs = append(errs, fmt.Errorf("knative Service %s: gets DATABASE_URL but functions/%s declares no database need", name, name))
		}
		if d.Redis && !sharedHas("REDIS_URL") {
			errs = append(errs, fmt.Errorf("knative Service %s: functions/%s needs Redis but gets no REDIS_URL", name, name))
		}
		if d.Events && !sharedHas("BROKER_URL") && !sharedHas("K_SINK") {
			errs = append(errs, fmt.Errorf("knative Service %s: functions/%s publishes events but gets no broker address", name, name))
		}
	}
	return errors.Join(errs...)
}
