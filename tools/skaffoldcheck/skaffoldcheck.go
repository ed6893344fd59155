// Package skaffoldcheck validates skaffold.yaml offline with skaffold v2.16.1's own schema
// types (skaffold/v4beta13), yaml package, struct-tag rules and profile patching, and checks
// it against the repository: every function is built, from its own module plus shared/,
// under the image name its manifests reference, and the stages deploy in order.
//
// It is its own module, outside go.work and apart from tools/manifestcheck, because
// skaffold's build list cannot be reconciled with Knative's (DESIGN.md §3): run it with
// GOWORK=off.
package skaffoldcheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/schema/latest"
	skyaml "github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/yaml"
	"github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/yamltags"
	yamlpatch "github.com/krishicks/yaml-patch"
)

// ModulePrefix is the import path prefix of the product's modules.
const ModulePrefix = "github.com/sqalfn/sqal"

// Parse reads a skaffold config file the way skaffold does, with skaffold's own yaml
// package and schema types: each document must be apiVersion skaffold/v4beta13 (the
// latest schema of v2.16.1) and decode strictly (an unknown or misspelled field fails),
// then skaffold's struct-tag rules (required fields, oneOf groups) are checked.
func Parse(path string) ([]*latest.SkaffoldConfig, error) {
	docs, err := readDocs(path)
	if err != nil {
		return nil, err
	}
	var out []*latest.SkaffoldConfig
	for i, doc := range docs {
		cfg, err := decode(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: config %d: %w", path, i, err)
		}
		out = append(out, cfg)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no config", path)
	}
	return out, nil
}

func decode(doc []byte) (*latest.SkaffoldConfig, error) {
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	if err := skyaml.Unmarshal(doc, &head); err != nil {
		return nil, fmt.Errorf("read apiVersion: %w", err)
	}
	if head.APIVersion != latest.Version || head.Kind != "Config" {
		return nil, fmt.Errorf("apiVersion %q kind %q, want %s Config", head.APIVersion, head.Kind, latest.Version)
	}
	cfg := &latest.SkaffoldConfig{}
	if err := skyaml.UnmarshalStrict(doc, cfg); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := validateTags(reflect.ValueOf(cfg)); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Metadata.Name, err)
	}
	return cfg, nil
}

// validateTags applies yamltags.ValidateStruct to every struct of the config, as
// skaffold's validation does (visitStructs): required fields and oneOf groups.
func validateTags(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Struct:
		var errs []error
		if err := yamltags.ValidateStruct(v.Interface()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.Type().Name(), err))
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanInterface() {
				errs = append(errs, validateTags(v.Field(i)))
			}
		}
		return errors.Join(errs...)
	case reflect.Slice:
		var errs []error
		for i := 0; i < v.Len(); i++ {
			errs = append(errs, validateTags(v.Index(i)))
		}
		return errors.Join(errs...)
	case reflect.Ptr:
		if v.IsNil() {
			return nil
		}
		return validateTags(v.Elem())
	}
	return nil
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

func readDocs(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read skaffold config: %w", err)
	}
	var docs [][]byte
	for _, d := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs, nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// WithProfiles parses path with the named profiles applied to every config that defines
// them, as `skaffold -p` does: each profile's JSON patches (the only profile form this
// repository uses; others are refused) are applied to the config document with the same
// yaml-patch library skaffold uses, and the result is decoded and checked again. The
// manifest paths of the patched configs must exist (relative to the working directory).
func WithProfiles(path string, profiles []string) ([]*latest.SkaffoldConfig, error) {
	docs, err := readDocs(path)
	if err != nil {
		return nil, err
	}
	var out []*latest.SkaffoldConfig
	var errs []error
	for i, doc := range docs {
		cfg, err := decode(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: config %d: %w", path, i, err)
		}
		for _, p := range cfg.Profiles {
			if !slices.Contains(profiles, p.Name) {
				continue
			}
			if p.Build.Artifacts != nil || p.Deploy.KubectlDeploy != nil || p.Render.Kustomize != nil || p.Render.RawK8s != nil {
				errs = append(errs, fmt.Errorf("config %q profile %q: only patches are supported here", cfg.Metadata.Name, p.Name))
				continue
			}
			for _, jp := range p.Patches {
				if jp.Op == "" {
					jp.Op = "replace" // skaffold's default
				}
				op, err := skyaml.Marshal([]latest.JSONPatch{jp})
				if err != nil {
					return nil, err
				}
				patch, err := yamlpatch.DecodePatch(op)
				if err != nil {
					errs = append(errs, fmt.Errorf("config %q profile %q: patch %s %s: %w", cfg.Metadata.Name, p.Name, jp.Op, jp.Path, err))
					continue
				}
				patched, err := patch.Apply(doc)
				if err != nil {
					errs = append(errs, fmt.Errorf("config %q profile %q: patch %s %s: %w", cfg.Metadata.Name, p.Name, jp.Op, jp.Path, err))
					continue
				}
				doc = patched
			}
		}
		if cfg, err = decode(doc); err != nil {
			errs = append(errs, fmt.Errorf("%s: config %d with profiles %v: %w", path, i, profiles, err))
			continue
		}
		var paths []string
		paths = append(paths, cfg.Render.RawK8s...)
		if cfg.Render.Kustomize != nil {
			paths = append(paths, cfg.Render.Kustomize.Paths...)
		}
		for _, p := range paths {
			if _, err := os.Stat(p); err != nil {
				errs = append(errs, fmt.Errorf("config %q (profiles %v): manifests %s: %w", cfg.Metadata.Name, profiles, p, err))
			}
		}
		out = append(out, cfg)
	}
	return out, errors.Join(errs...)
}

// Artifacts indexes every artifact of every config by image name.
func Artifacts(cfgs []*latest.SkaffoldConfig) map[string]*latest.Artifact {
	out := map[string]*latest.Artifact{}
	for _, c := range cfgs {
		for _, a := range c.Build.Artifacts {
			out[a.ImageName] = a
		}
	}
	return out
}

// FunctionImage is the image name of a function, as its Knative Service references it.
func FunctionImage(service string) string {
	return "ko://" + ModulePrefix + "/functions/" + service + "/cmd"
}

// CheckArtifacts: every folder under functions/ has a ko artifact built from its own
// module, whose dependencies include that module and shared/ (so a change in shared/
// rebuilds every function), and every artifact is a ko build of a product import path.
func CheckArtifacts(root string, cfgs []*latest.SkaffoldConfig) error {
	arts := Artifacts(cfgs)
	var errs []error
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return fmt.Errorf("list functions: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		img := FunctionImage(e.Name())
		a, ok := arts[img]
		if !ok {
			errs = append(errs, fmt.Errorf("functions/%s has no skaffold artifact %s", e.Name(), img))
			continue
		}
		if a.KoArtifact == nil || a.KoArtifact.Dir != "functions/"+e.Name() {
			errs = append(errs, fmt.Errorf("artifact %s: must be a ko build with dir functions/%s", img, e.Name()))
		}
	}
	for _, name := range sortedKeys(arts) {
		a := arts[name]
		if a.KoArtifact == nil {
			errs = append(errs, fmt.Errorf("artifact %s: not a ko build", name))
			continue
		}
		if !strings.HasPrefix(name, "ko://"+ModulePrefix+"/") {
			errs = append(errs, fmt.Errorf("artifact %s: image must be ko://%s/... (the manifests' reference)", name, ModulePrefix))
		}
		var deps []string
		if a.KoArtifact.Dependencies != nil {
			deps = a.KoArtifact.Dependencies.Paths
		}
		for _, want := range []string{a.KoArtifact.Dir + "/**", "shared/**", "go.work"} {
			if !slices.Contains(deps, want) {
				errs = append(errs, fmt.Errorf("artifact %s: dependencies.paths lacks %q", name, want))
			}
		}
	}
	return errors.Join(errs...)
}

var imageLine = regexp.MustCompile(`(?m)^\s*(?:-\s*)?image:\s*"?(ko://[^"\s]+)"?`)

// CheckManifestImages: every ko:// image the manifests reference is built by an artifact,
// and every artifact is referenced by a manifest (skaffold replaces only exact names).
func CheckManifestImages(root string, cfgs []*latest.SkaffoldConfig) error {
	arts := Artifacts(cfgs)
	referenced := map[string]string{}
	for _, dir := range []string{"knative", "k8s"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range imageLine.FindAllStringSubmatch(string(data), -1) {
				rel, _ := filepath.Rel(root, path)
				referenced[m[1]] = filepath.ToSlash(rel)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("scan %s: %w", dir, err)
		}
	}
	var errs []error
	for _, img := range sortedKeys(referenced) {
		if _, ok := arts[img]; !ok {
			errs = append(errs, fmt.Errorf("%s references %s, which no skaffold artifact builds", referenced[img], img))
		}
	}
	for _, img := range sortedKeys(arts) {
		if _, ok := referenced[img]; !ok {
			errs = append(errs, fmt.Errorf("artifact %s is referenced by no manifest", img))
		}
	}
	return errors.Join(errs...)
}

// CheckOrder: infra, then the migration, then the functions — each config requires the
// previous one, so skaffold deploys them in that order.
func CheckOrder(cfgs []*latest.SkaffoldConfig) error {
	byName := map[string]*latest.SkaffoldConfig{}
	for _, c := range cfgs {
		byName[c.Metadata.Name] = c
	}
	order := []string{"infra", "migrate", "functions"}
	var errs []error
	for i, name := range order {
		c, ok := byName[name]
		if !ok {
			errs = append(errs, fmt.Errorf("config %q missing", name))
			continue
		}
		if i == 0 {
			continue
		}
		var req []string
		for _, d := range c.Dependencies {
			req = append(req, d.Names...)
		}
		if !slices.Contains(req, order[i-1]) {
			errs = append(errs, fmt.Errorf("config %q must require %q (deploy order)", name, order[i-1]))
		}
	}
	if m, ok := byName["migrate"]; ok {
		if m.Deploy.KubectlDeploy == nil || len(m.Deploy.KubectlDeploy.LifecycleHooks.PostHooks) == 0 {
			errs = append(errs, errors.New(`config "migrate" must wait for the Job in a deploy.kubectl.hooks.after hook`))
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
