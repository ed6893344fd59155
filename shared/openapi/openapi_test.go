package openapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "copy functions/*/openapi.yaml into fragments/")

// TestFragments fails when a function's openapi.yaml has no copy here or the copy is
// stale; -update refreshes the copies.
func TestFragments(t *testing.T) {
	sources, err := filepath.Glob("../../functions/*/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) == 0 {
		t.Skip("not in the workspace (no functions/ next to shared/)")
	}
	for _, src := range sources {
		svc := filepath.Base(filepath.Dir(src))
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join("fragments", svc+".yaml")
		if *update {
			if err := os.WriteFile(dst, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale: go test ./openapi -run TestFragments -update", dst)
		}
	}
}

func TestDocument(t *testing.T) {
	b, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(Operations(doc)) == 0 {
		t.Fatal("merged document has no operation")
	}
	// Every $ref points at something that exists.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if !resolves(doc, ref) {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
}

func resolves(doc map[string]any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	var cur any = doc
	for _, p := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[p]; !ok {
			return false
		}
	}
	return true
}

func TestMerge(t *testing.T) {
	a, _ := Parse("a", []byte("paths:\n  /x:\n    get: {summary: x}\ncomponents:\n  schemas:\n    S: {type: string}\ntags: [{name: t}]\n"))
	b, _ := Parse("b", []byte("paths:\n  /x:\n    post: {summary: y}\n  /y:\n    get: {}\ncomponents:\n  schemas:\n    S: {type: string}\ntags: [{name: t}, {name: u}]\n"))
	doc, err := Merge("T", "1", a, b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range Operations(doc) {
		got = append(got, op.String())
	}
	if strings.Join(got, ",") != "GET /x,POST /x,GET /y" {
		t.Fatalf("operations %v", got)
	}
	if doc["paths"].(map[string]any)["/x"].(map[string]any)["post"].(map[string]any)["x-service"] != "b" {
		t.Fatal("x-service not set")
	}
	if len(doc["tags"].([]any)) != 2 {
		t.Fatalf("tags %v", doc["tags"])
	}
	for _, tc := range []struct{ name, a, b string }{
		{"same operation twice", "paths:\n  /x:\n    get: {}\n", "paths:\n  /x:\n    get: {}\n"},
		{"conflicting component", "components:\n  schemas:\n    S: {type: string}\n", "components:\n  schemas:\n    S: {type: integer}\n"},
	} {
		fa, _ := Parse("a", []byte(tc.a))
		fb, _ := Parse("b", []byte(tc.b))
		if _, err := Merge("T", "1", fa, fb); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := Parse("bad", []byte("paths: [")); err == nil {
		t.Error("invalid YAML accepted")
	}
}

func TestCoverage(t *testing.T) {
	frag := []byte("paths:\n  /a:\n    get: {}\n    post: {}\n  /h:\n    get: {x-served-by: runtime}\n  /doc-only:\n    get: {}\n")
	missing, extra, err := Coverage(frag, []Operation{{"get", "/a"}, {"POST", "/a"}, {"GET", "/route-only"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0].String() != "GET /route-only" {
		t.Errorf("missing %v", missing)
	}
	if len(extra) != 1 || extra[0].String() != "GET /doc-only" {
		t.Errorf("extra %v", extra)
	}
}
