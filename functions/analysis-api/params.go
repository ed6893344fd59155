package analysisapi

import (
	"fmt"
	"strings"
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/quality"
	"github.com/sqalfn/sqal/shared/sample"
)

// Paging bounds (§2.0): default page size 50, limit clamped to 1..500.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// page is the window of a list: the former target's skip/limit, or the dashboard's
// 1-based page/page_size (page wins when both are sent).
type page struct {
	Offset int
	Size   int
}

// readPage reads page, page_size, skip and limit. Non-integers and negative offsets are
// 422; sizes are clamped to 1..500 as the contract recommends rather than refused.
func readPage(p *httpapi.ParamSet) page {
	pageNo := p.Query("page").OptInt(httpapi.Ge(1))
	pageSize := p.Query("page_size").OptInt()
	skip := p.Query("skip").Int(0, httpapi.Ge(0))
	limit := p.Query("limit").OptInt()

	size := defaultPageSize
	switch {
	case pageSize != nil:
		size = *pageSize
	case limit != nil:
		size = *limit
	}
	size = min(max(size, 1), maxPageSize)
	if pageNo != nil {
		return page{Offset: (*pageNo - 1) * size, Size: size}
	}
	return page{Offset: skip, Size: size}
}

// pagination is the history's paging block, computed on the filtered count.
type pagination struct {
	TotalItems  int64 `json:"totalItems"`
	TotalPages  int64 `json:"totalPages"`
	CurrentPage int64 `json:"currentPage"`
	PageSize    int   `json:"pageSize"`
	HasPrevious bool  `json:"hasPrevious"`
	HasNext     bool  `json:"hasNext"`
}

func newPagination(pg page, total int64) pagination {
	pages := max((total+int64(pg.Size)-1)/int64(pg.Size), 1)
	return pagination{
		TotalItems:  total,
		TotalPages:  pages,
		CurrentPage: int64(pg.Offset/pg.Size) + 1,
		PageSize:    pg.Size,
		HasPrevious: pg.Offset > 0,
		HasNext:     int64(pg.Offset+pg.Size) < total,
	}
}

// filter selects samples: the history and sensor lists' grade, device and period.
type filter struct {
	Grade    string
	DeviceID string
	Start    *time.Time // timestamp >= Start
	End      *time.Time // timestamp <= End, or < End when EndExclusive
	// EndExclusive is set when end_date was a bare date: the whole day is included.
	EndExclusive bool
}

// readFilter reads grade, device_id, start_date and end_date.
func readFilter(p *httpapi.ParamSet) filter {
	var f filter
	if g := p.Query("grade"); g.Present() {
		f.Grade = normalizeGrade(g.Raw())
	}
	f.DeviceID = p.Query("device_id").String("")
	f.Start = p.Query("start_date").OptTime()
	end := p.Query("end_date")
	f.End = end.OptTime()
	if f.End != nil && isBareDate(end.Raw()) {
		next := f.End.AddDate(0, 0, 1)
		f.End, f.EndExclusive = &next, true
	}
	return f
}

// normalizeGrade reads a grade filter. A literal '+' in a query string decodes to a
// space, so "A " is "A+" (§0.3); device labels such as "REJET - …" map as on ingestion.
func normalizeGrade(raw string) string {
	if strings.HasSuffix(raw, " ") && strings.TrimSpace(raw) == "A" {
		return "A+"
	}
	raw = strings.TrimSpace(raw)
	if g, ok := sample.NormalizeGrade(raw); ok {
		return g
	}
	return raw
}

func isBareDate(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) == 10 && s[4] == '-' && s[7] == '-'
}

// where renders the filter as a SQL condition (always valid, "TRUE" when empty),
// appending its values to args so that every value is a bind parameter.
func (f filter) where(args *[]any) string {
	conds := []string{"TRUE"}
	add := func(cond string, v any) {
		*args = append(*args, v)
		conds = append(conds, fmt.Sprintf(cond, len(*args)))
	}
	if f.Grade != "" {
		add("fusion_final_grade = $%d", f.Grade)
	}
	if f.DeviceID != "" {
		add("device_id = $%d", f.DeviceID)
	}
	if f.Start != nil {
		add(`"timestamp" >= $%d`, *f.Start)
	}
	if f.End != nil {
		if f.EndExclusive {
			add(`"timestamp" < $%d`, *f.End)
		} else {
			add(`"timestamp" <= $%d`, *f.End)
		}
	}
	return strings.Join(conds, " AND ")
}

// period is the filter's device and time bounds (the grade is applied by the caller).
func (f filter) period() quality.Period {
	return quality.Period{DeviceID: f.DeviceID, Start: f.Start, End: f.End, EndExclusive: f.EndExclusive}
}

// key identifies the filter in a cache key.
func (f filter) key() string {
	t := func(p *time.Time) string {
		if p == nil {
			return "-"
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("g=%q d=%q s=%s e=%s x=%t", f.Grade, f.DeviceID, t(f.Start), t(f.End), f.EndExclusive)
}
