package sqalapi

import (
	"strconv"
	"strings"
	"time"
)

// span is an inclusive time window [Start, End] (the contract's BETWEEN) split for the
// hourly rollup: whole hours [Full0, Full1) are read from sqal_sample_hourly, the
// partial hours at both edges ([Start, Full0) and [Full1, End]) from sensor_samples.
type span struct {
	Start, End   time.Time
	Full0, Full1 time.Time
}

func newSpan(start, end time.Time) span {
	start, end = start.UTC(), end.UTC()
	f0 := start.Truncate(time.Hour)
	if f0.Before(start) {
		f0 = f0.Add(time.Hour)
	}
	f1 := end.Truncate(time.Hour)
	if !f0.Before(f1) {
		// Less than one whole hour inside: everything comes from the raw table.
		f0, f1 = start, start
	}
	return span{Start: start, End: end, Full0: f0, Full1: f1}
}

// partsFilter restricts the samples an aggregate counts.
type partsFilter struct {
	DeviceID *string
	// SiteCode restricts to devices of that site (sqal_devices.site_code).
	SiteCode *string
	// AnySite restricts to devices that have a site at all (stats/sites).
	AnySite bool
}

// partsSQL returns a CTE named "parts" with one row per (hour bucket, device, grade) of
// the samples in sp matching f, with the columns of sqal_sample_hourly, and its args.
// Readers aggregate "parts" further; the result is exact, and at most two partial hours
// are read from sensor_samples.
func partsSQL(sp span, f partsFilter) (string, []any) {
	args := []any{sp.Full0, sp.Full1, sp.Start, sp.End}
	var hf, sf strings.Builder
	add := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.DeviceID != nil {
		p := add(*f.DeviceID)
		hf.WriteString(" AND h.device_id = " + p)
		sf.WriteString(" AND s.device_id = " + p)
	}
	if f.SiteCode != nil || f.AnySite {
		cond := "d.site_code IS NOT NULL"
		if f.SiteCode != nil {
			cond = "d.site_code = " + add(*f.SiteCode)
		}
		in := " IN (SELECT d.device_id FROM sqal_devices d WHERE " + cond + ")"
		hf.WriteString(" AND h.device_id" + in)
		sf.WriteString(" AND s.device_id" + in)
	}
	q := `WITH parts AS (
  SELECT h.bucket, h.device_id, h.grade, h.n, h.n_compliant, h.sum_score,
         h.sum_volume, h.n_volume, h.sum_freshness, h.n_freshness
  FROM sqal_sample_hourly h
  WHERE h.bucket >= $1 AND h.bucket < $2` + hf.String() + `
  UNION ALL
  SELECT date_trunc('hour', s."timestamp", 'UTC'), s.device_id, s.fusion_final_grade, count(*),
         count(*) FILTER (WHERE COALESCE(s.fusion_is_compliant, s.fusion_final_grade <> 'REJECT')),
         sum(s.fusion_final_score),
         COALESCE(sum(s.vl53l8ch_volume_mm3), 0), count(s.vl53l8ch_volume_mm3),
         COALESCE(sum(s.as7341_freshness_index), 0), count(s.as7341_freshness_index)
  FROM sensor_samples s
  WHERE ((s."timestamp" >= $3 AND s."timestamp" < $1) OR (s."timestamp" >= $2 AND s."timestamp" <= $4))` + sf.String() + `
  GROUP BY 1, 2, 3
)
`
	return q, args
}

// period is the {"start","end"} echo of the bounds a list or stats endpoint used.
type period struct {
	Start stamp `json:"start"`
	End   stamp `json:"end"`
}
