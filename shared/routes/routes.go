// Package routes holds the product's one path -> function table (routes.yaml),
// shared by the cluster gateway and the local all-in-one runner.
package routes

import (
	_ "embed"
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:embed routes.yaml
var tableYAML []byte

// Route maps a public path prefix to the Knative Service that serves it.
type Route struct {
	Prefix  string `json:"prefix"`
	Service string `json:"service"`
}

// Table is an ordered route table (longest prefix first).
type Table []Route

// Default returns the embedded route table.
func Default() Table {
	t, err := Parse(tableYAML)
	if err != nil {
		panic(fmt.Sprintf("routes.yaml: %v", err)) // embedded file, checked by tests
	}
	return t
}

// Parse decodes a route table document and sorts it longest prefix first.
func Parse(doc []byte) (Table, error) {
	var f struct {
		Routes []Route `json:"routes"`
	}
	if err := yaml.UnmarshalStrict(doc, &f); err != nil {
		return nil, fmt.Errorf("decode route table: %w", err)
	}
	seen := map[string]bool{}
	for i, r := range f.Routes {
		if !strings.HasPrefix(r.Prefix, "/") || r.Service == "" {
			return nil, fmt.Errorf("route %d: prefix must start with / and service must be set", i)
		}
		if seen[r.Prefix] {
			return nil, fmt.Errorf("route %d: duplicate prefix %q", i, r.Prefix)
		}
		seen[r.Prefix] = true
	}
	t := Table(f.Routes)
	sort.SliceStable(t, func(i, j int) bool { return len(t[i].Prefix) > len(t[j].Prefix) })
	return t, nil
}

// Match returns the service for a request path, or "" when no route matches.
func (t Table) Match(path string) string {
	for _, r := range t {
		if strings.HasSuffix(r.Prefix, "/") {
			if strings.HasPrefix(path, r.Prefix) {
				return r.Service
			}
		} else if path == r.Prefix {
			return r.Service
		}
	}
	return ""
}

// Services lists the distinct services named by the table, sorted.
func (t Table) Services() []string {
	set := map[string]bool{}
	for _, r := range t {
		set[r.Service] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
