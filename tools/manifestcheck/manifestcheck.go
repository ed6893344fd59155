// Package manifestcheck validates the product's deployment manifests without a cluster:
// every document is strict-decoded into the real Kubernetes / Knative Go type (a typo'd
// field fails), the Knative objects are defaulted and validated the way the webhooks do it
// on create, and the manifests are checked against each other and against the code
// (functions/, shared/routes/routes.yaml, knative/events.yaml).
//
// It is its own module, outside go.work, because knative.dev/serving and eventing pin
// k8s.io/* versions that must not leak into the functions' build list: run it with
// GOWORK=off (scripts/test.sh does, through scripts/standalone-modules).
package manifestcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/eventing/pkg/apis/eventing"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/apis/feature"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/pkg/apis"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// Namespace is where kustomize puts every object (knative/ and k8s/base kustomizations);
// objects are validated as if already there, so references default the same way.
const Namespace = "sqal"

// Doc is one YAML document of a manifest file.
type Doc struct {
	File  string // path relative to the repository root
	Index int    // position of the document in the file
	Raw   []byte
	Kind  string
	API   string
	Name  string
}

func (d Doc) String() string { return fmt.Sprintf("%s#%d (%s %s)", d.File, d.Index, d.Kind, d.Name) }

// SplitDocuments splits a multi-document YAML stream, skipping empty documents.
func SplitDocuments(file string, data []byte) ([]Doc, error) {
	r := yaml.NewYAMLReader(bufioReader(data))
	var docs []Doc
	for i := 0; ; i++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read document %d: %w", file, i, err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := sigsyaml.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		if head.Kind == "" && head.APIVersion == "" {
			if len(bytes.TrimSpace(stripComments(raw))) == 0 {
				continue // comment-only document
			}
			return nil, fmt.Errorf("%s: document %d has no apiVersion/kind", file, i)
		}
		docs = append(docs, Doc{File: file, Index: i, Raw: raw, Kind: head.Kind, API: head.APIVersion, Name: head.Metadata.Name})
	}
	return docs, nil
}

// LoadFile reads and splits one manifest file; path is relative to root.
func LoadFile(root, path string) ([]Doc, error) {
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return SplitDocuments(path, data)
}

// Object is a decoded, defaulted and validated manifest document.
type Object struct {
	Doc
	Value any // *servingv1.Service, *eventingv1.Trigger, *appsv1.Deployment, ...
}

// Decode strict-decodes a document into its typed object and, for Knative objects,
// applies SetDefaults and Validate as the webhook would on create. Unknown kinds fail:
// a manifest of a kind nobody validates is a manifest nobody checked.
func Decode(ctx context.Context, d Doc) (*Object, error) {
	var (
		obj      any
		validate func() *apis.FieldError
	)
	ctx = ValidationContext(ctx)
	switch d.API + "/" + d.Kind {
	case "serving.knative.dev/v1/Service":
		o := &servingv1.Service{}
		obj, validate = o, func() *apis.FieldError { setNS(&o.ObjectMeta.Namespace); o.SetDefaults(ctx); return o.Validate(ctx) }
	case "eventing.knative.dev/v1/Broker":
		o := &eventingv1.Broker{}
		obj, validate = o, func() *apis.FieldError { setNS(&o.ObjectMeta.Namespace); o.SetDefaults(ctx); return o.Validate(ctx) }
	case "eventing.knative.dev/v1/Trigger":
		o := &eventingv1.Trigger{}
		obj, validate = o, func() *apis.FieldError {
			setNS(&o.ObjectMeta.Namespace)
			o.SetDefaults(ctx)
			return o.Validate(ctx)
		}
	case "sources.knative.dev/v1/PingSource":
		o := &sourcesv1.PingSource{}
		obj, validate = o, func() *apis.FieldError { setNS(&o.ObjectMeta.Namespace); o.SetDefaults(ctx); return o.Validate(ctx) }
	case "apps/v1/Deployment":
		obj = &appsv1.Deployment{}
	case "apps/v1/StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "batch/v1/Job":
		obj = &batchv1.Job{}
	case "v1/Service":
		obj = &corev1.Service{}
	case "v1/ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1/Secret":
		obj = &corev1.Secret{}
	case "v1/Namespace":
		obj = &corev1.Namespace{}
	default:
		return nil, fmt.Errorf("%s: no validator for %s/%s", d, d.API, d.Kind)
	}
	if err := sigsyaml.UnmarshalStrict(d.Raw, obj); err != nil {
		return nil, fmt.Errorf("%s: strict decode: %w", d, err)
	}
	if validate != nil {
		if ferr := validate(); ferr != nil {
			return nil, fmt.Errorf("%s: knative validation: %w", d, ferr)
		}
	}
	return &Object{Doc: d, Value: obj}, nil
}

// ValidationContext is the context the Knative webhooks validate a create in: the
// eventing feature flags at their defaults (serving falls back to its defaults by itself).
func ValidationContext(ctx context.Context) context.Context {
	flags, err := feature.NewFlagsConfigFromMap(map[string]string{})
	if err != nil {
		panic(fmt.Sprintf("eventing feature defaults: %v", err)) // static input
	}
	ctx = feature.ToContext(ctx, flags)
	return apis.WithinCreate(ctx)
}

func setNS(ns *string) {
	if *ns == "" {
		*ns = Namespace
	}
}

func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(string(b), "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") || t == "---" {
			continue
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// BrokerClass returns the broker class annotation of a Broker.
func BrokerClass(b *eventingv1.Broker) string { return b.Annotations[eventing.BrokerClassKey] }
