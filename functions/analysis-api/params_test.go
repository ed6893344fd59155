package analysisapi

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
)

func TestNormalizeGrade(t *testing.T) {
	for in, want := range map[string]string{
		"A+": "A+", "A ": "A+", "A": "A", " b ": "B", "c": "C", "REJECT": "REJECT", "REJET - Qualité insuffisante": "REJECT",
		"UNKNOWN": "UNKNOWN", "": "",
	} {
		if got := normalizeGrade(in); got != want {
			t.Errorf("normalizeGrade(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadPageAndFilter(t *testing.T) {
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		query string
		page  page
		f     filter
	}{
		{"", page{0, 50}, filter{}},
		{"?page=3&page_size=20", page{40, 20}, filter{}},
		{"?skip=7&limit=3", page{7, 3}, filter{}},
		{"?page=2&limit=600", page{500, 500}, filter{}},
		{"?end_date=2026-11-25", page{0, 50}, filter{End: &day, EndExclusive: true}},
		{"?end_date=2026-11-26T00:00:00Z&grade=A%2B&device_id=D", page{0, 50}, filter{End: &day, Grade: "A+", DeviceID: "D"}},
	}
	for _, tc := range tests {
		p := httpapi.Params(httptest.NewRequest("GET", "/x"+tc.query, nil))
		pg, f := readPage(p), readFilter(p)
		if err := p.Err(); err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if pg != tc.page {
			t.Errorf("%s: page %+v, want %+v", tc.query, pg, tc.page)
		}
		if f.key() != tc.f.key() {
			t.Errorf("%s: filter %s, want %s", tc.query, f.key(), tc.f.key())
		}
	}
}

func TestFilterWhere(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var args []any
	got := filter{Grade: "B", DeviceID: "D", Start: &start, End: &start, EndExclusive: true}.where(&args)
	want := `TRUE AND fusion_final_grade = $1 AND device_id = $2 AND "timestamp" >= $3 AND "timestamp" < $4`
	if got != want || len(args) != 4 {
		t.Errorf("where = %s %v", got, args)
	}
	args = []any{"x"}
	if got := (filter{DeviceID: "D"}).where(&args); got != `TRUE AND device_id = $2` {
		t.Errorf("numbering continues after existing args: %s", got)
	}
}

func TestPagination(t *testing.T) {
	for _, tc := range []struct {
		pg    page
		total int64
		want  pagination
	}{
		{page{0, 50}, 0, pagination{0, 1, 1, 50, false, false}},
		{page{0, 10}, 10, pagination{10, 1, 1, 10, false, false}},
		{page{0, 10}, 11, pagination{11, 2, 1, 10, false, true}},
		{page{10, 10}, 11, pagination{11, 2, 2, 10, true, false}},
		{page{5, 10}, 30, pagination{30, 3, 1, 10, true, true}},
	} {
		if got := newPagination(tc.pg, tc.total); got != tc.want {
			t.Errorf("newPagination(%+v, %d) = %+v, want %+v", tc.pg, tc.total, got, tc.want)
		}
	}
}
