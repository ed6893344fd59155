package routes

import "testing"

func TestDefaultTableParsesAndMatches(t *testing.T) {
	tab := Default()
	cases := map[string]string{
		"/api/sqal/devices":      "sqal-api",
		"/api/sqal":              "sqal-api",
		"/api/sqalx":             "",
		"/ws/sensors/":           "ingest",
		"/ws/sensors":            "ingest",
		"/ws/sensorsx":           "",
		"/api/lots/12/qualite":   "sqal-api",
		"/api/analysis/history/": "analysis-api",
		"/":                      "",
	}
	for path, want := range cases {
		if got := tab.Match(path); got != want {
			t.Errorf("Match(%q) = %q, want %q", path, got, want)
		}
	}
	if len(tab.Services()) == 0 {
		t.Fatal("no services")
	}
}

func TestParseRejectsBadTables(t *testing.T) {
	bad := []string{
		"routes:\n  - {prefix: api/, service: x}\n",
		"routes:\n  - {prefix: /a, service: ''}\n",
		"routes:\n  - {prefix: /a, service: x}\n  - {prefix: /a, service: y}\n",
		"routes:\n  - {prefix: /a, servce: x}\n",
	}
	for _, doc := range bad {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%q) accepted a bad table", doc)
		}
	}
}
