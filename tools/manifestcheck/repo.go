package manifestcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// ManifestDirs are the folders whose YAML files are all manifests (kustomization.yaml and
// knative/events.yaml aside).
var ManifestDirs = []string{"knative", "k8s"}

// notManifests are YAML files under ManifestDirs that are not Kubernetes objects.
func notManifest(rel string) bool {
	base := filepath.Base(rel)
	return base == "kustomization.yaml" || rel == "knative/events.yaml"
}

// FindRoot walks up from dir to the repository root (the folder holding go.work).
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("find repository root: no go.work above %s", dir)
		}
	}
}

// ManifestFiles lists every manifest file under ManifestDirs, relative to root, sorted.
func ManifestFiles(root string) ([]string, error) {
	var files []string
	for _, dir := range ManifestDirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				return nil
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if !notManifest(rel) {
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list manifests under %s: %w", dir, err)
		}
	}
	sort.Strings(files)
	return files, nil
}

// Set is every decoded object of the repository, indexed for the consistency checks.
type Set struct {
	Objects     []*Object
	Services    map[string]*servingv1.Service // Knative Services by name
	Triggers    map[string]*eventingv1.Trigger
	Brokers     map[string]*eventingv1.Broker
	PingSources map[string]*sourcesv1.PingSource
	K8sServices map[string]*corev1.Service
	ConfigMaps  map[string]*corev1.ConfigMap
	Secrets     map[string]*corev1.Secret
	Deployments map[string]*appsv1.Deployment
	StatefulSet map[string]*appsv1.StatefulSet
	Jobs        map[string]*batchv1.Job
	Files       map[string]string // "<Kind>/<name>" -> file, for messages
}

// LoadRepo decodes and validates every manifest under root. It returns every error found,
// not only the first.
func LoadRepo(ctx context.Context, root string) (*Set, error) {
	files, err := ManifestFiles(root)
	if err != nil {
		return nil, err
	}
	var docs []Doc
	var errs []error
	for _, f := range files {
		d, err := LoadFile(root, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		docs = append(docs, d...)
	}
	set, err := NewSet(ctx, docs)
	if err != nil {
		errs = append(errs, err)
	}
	return set, errors.Join(errs...)
}

// NewSet decodes docs and indexes them. Duplicate kind/name pairs are an error.
func NewSet(ctx context.Context, docs []Doc) (*Set, error) {
	s := &Set{
		Services: map[string]*servingv1.Service{}, Triggers: map[string]*eventingv1.Trigger{},
		Brokers: map[string]*eventingv1.Broker{}, PingSources: map[string]*sourcesv1.PingSource{},
		K8sServices: map[string]*corev1.Service{}, ConfigMaps: map[string]*corev1.ConfigMap{},
		Secrets: map[string]*corev1.Secret{}, Deployments: map[string]*appsv1.Deployment{},
		StatefulSet: map[string]*appsv1.StatefulSet{}, Jobs: map[string]*batchv1.Job{},
		Files: map[string]string{},
	}
	var errs []error
	for _, d := range docs {
		o, err := Decode(ctx, d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		key := d.Kind + "/" + d.Name
		if prev, dup := s.Files[key]; dup {
			errs = append(errs, fmt.Errorf("%s: %s already defined in %s", d, key, prev))
			continue
		}
		s.Files[key] = d.File
		s.Objects = append(s.Objects, o)
		switch v := o.Value.(type) {
		case *servingv1.Service:
			s.Services[v.Name] = v
		case *eventingv1.Trigger:
			s.Triggers[v.Name] = v
		case *eventingv1.Broker:
			s.Brokers[v.Name] = v
		case *sourcesv1.PingSource:
			s.PingSources[v.Name] = v
		case *corev1.Service:
			s.K8sServices[v.Name] = v
		case *corev1.ConfigMap:
			s.ConfigMaps[v.Name] = v
		case *corev1.Secret:
			s.Secrets[v.Name] = v
		case *appsv1.Deployment:
			s.Deployments[v.Name] = v
		case *appsv1.StatefulSet:
			s.StatefulSet[v.Name] = v
		case *batchv1.Job:
			s.Jobs[v.Name] = v
		}
	}
	return s, errors.Join(errs...)
}
