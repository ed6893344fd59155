// Package openapi merges the per-function OpenAPI 3 fragments into the product's one
// document (served at /openapi.json) and renders the docs page (/docs).
//
// Each function keeps its fragment next to its code (functions/<service>/openapi.yaml)
// and checks it against its own route table in a test. Because one function answers
// /openapi.json for the whole product (behind the one origin), the fragments are also
// copied here (fragments/<service>.yaml; refresh them with
// `go test ./openapi -run TestFragments -update`), and a test of this package fails
// when a copy differs from its source or a function's fragment has no copy.
package openapi

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
)

//go:embed fragments/*.yaml
var fragments embed.FS

// Fragment is one function's part of the document: a complete OpenAPI 3 object of which
// only "paths", "components" and "tags" are merged.
type Fragment struct {
	Service string
	Doc     map[string]any
}

// Parse reads a YAML or JSON fragment.
func Parse(service string, src []byte) (Fragment, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return Fragment{}, fmt.Errorf("openapi fragment %s: %w", service, err)
	}
	if doc == nil {
		return Fragment{}, fmt.Errorf("openapi fragment %s: empty document", service)
	}
	return Fragment{Service: service, Doc: doc}, nil
}

// Operation is one (method, path) of a document, method upper-case.
type Operation struct {
	Method string
	Path   string
}

func (o Operation) String() string { return o.Method + " " + o.Path }

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Operations lists the operations of a fragment or merged document, sorted.
func Operations(doc map[string]any) []Operation {
	paths, _ := doc["paths"].(map[string]any)
	var out []Operation
	for p, item := range paths {
		m, _ := item.(map[string]any)
		for _, meth := range methods {
			if _, ok := m[meth]; ok {
				out = append(out, Operation{strings.ToUpper(meth), p})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// Merge builds one document from fragments. Two fragments declaring the same operation,
// or the same component name with different content, is an error: one path belongs to
// one function (the route table says which).
func Merge(title, version string, frags ...Fragment) (map[string]any, error) {
	paths := map[string]any{}
	components := map[string]any{}
	var tags []any
	seenTag := map[string]bool{}
	owner := map[Operation]string{}
	sort.Slice(frags, func(i, j int) bool { return frags[i].Service < frags[j].Service })
	for _, f := range frags {
		fp, _ := f.Doc["paths"].(map[string]any)
		for p, item := range fp {
			im, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("openapi %s: path %s is not an object", f.Service, p)
			}
			dst, _ := paths[p].(map[string]any)
			if dst == nil {
				dst = map[string]any{}
				paths[p] = dst
			}
			for k, v := range im {
				op := Operation{strings.ToUpper(k), p}
				if prev, dup := owner[op]; dup && isMethod(k) {
					return nil, fmt.Errorf("openapi: %s declared by both %s and %s", op, prev, f.Service)
				}
				if isMethod(k) {
					owner[op] = f.Service
					if om, ok := v.(map[string]any); ok {
						om["x-service"] = f.Service
					}
				}
				dst[k] = v
			}
		}
		fc, _ := f.Doc["components"].(map[string]any)
		for section, entries := range fc {
			em, _ := entries.(map[string]any)
			dst, _ := components[section].(map[string]any)
			if dst == nil {
				dst = map[string]any{}
				components[section] = dst
			}
			for name, def := range em {
				if prev, ok := dst[name]; ok && !sameJSON(prev, def) {
					return nil, fmt.Errorf("openapi: component %s/%s of %s conflicts with another fragment", section, name, f.Service)
				}
				dst[name] = def
			}
		}
		ft, _ := f.Doc["tags"].([]any)
		for _, t := range ft {
			if tm, ok := t.(map[string]any); ok {
				if n, _ := tm["name"].(string); n != "" && !seenTag[n] {
					seenTag[n] = true
					tags = append(tags, t)
				}
			}
		}
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": title, "version": version},
		"paths":   paths,
	}
	if len(components) > 0 {
		doc["components"] = components
	}
	if len(tags) > 0 {
		doc["tags"] = tags
	}
	return doc, nil
}

func isMethod(k string) bool {
	for _, m := range methods {
		if k == m {
			return true
		}
	}
	return false
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Embedded returns the fragments copied into this package (fragments/<service>.yaml).
func Embedded() ([]Fragment, error) {
	entries, err := fs.ReadDir(fragments, "fragments")
	if err != nil {
		return nil, fmt.Errorf("read embedded fragments: %w", err)
	}
	var out []Fragment
	for _, e := range entries {
		b, err := fragments.ReadFile("fragments/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read fragment %s: %w", e.Name(), err)
		}
		f, err := Parse(strings.TrimSuffix(e.Name(), path.Ext(e.Name())), b)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

var (
	docOnce sync.Once
	docJSON []byte
	docErr  error
)

// Document returns the merged document of every embedded fragment, as JSON. It is
// built once per process.
func Document() ([]byte, error) {
	docOnce.Do(func() {
		frags, err := Embedded()
		if err != nil {
			docErr = err
			return
		}
		doc, err := Merge("SQAL functions", "1.0.0", frags...)
		if err != nil {
			docErr = err
			return
		}
		docJSON, docErr = json.Marshal(doc)
	})
	return docJSON, docErr
}

// Coverage compares a function's fragment with the routes it registers: missing are
// registered routes without an operation, extra are operations without a route.
// Operations marked "x-served-by: runtime" (the shared runtime's /health and probes)
// are not expected among the function's own routes. Every function's route test is:
//
//	missing, extra, err := openapi.Coverage(fragment, registeredOperations)
func Coverage(fragment []byte, registered []Operation) (missing, extra []Operation, err error) {
	f, err := Parse("fragment", fragment)
	if err != nil {
		return nil, nil, err
	}
	documented := map[Operation]bool{}
	paths, _ := f.Doc["paths"].(map[string]any)
	for _, op := range Operations(f.Doc) {
		item, _ := paths[op.Path].(map[string]any)
		o, _ := item[strings.ToLower(op.Method)].(map[string]any)
		if by, _ := o["x-served-by"].(string); by == "runtime" {
			continue
		}
		documented[op] = true
	}
	seen := map[Operation]bool{}
	for _, op := range registered {
		op.Method = strings.ToUpper(op.Method)
		seen[op] = true
		if !documented[op] {
			missing = append(missing, op)
		}
	}
	for op := range documented {
		if !seen[op] {
			extra = append(extra, op)
		}
	}
	sortOps(missing)
	sortOps(extra)
	return missing, extra, nil
}

func sortOps(ops []Operation) {
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
}
