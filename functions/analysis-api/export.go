package analysisapi

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// maxExportRows is the former target's cap on one export (newest first).
const maxExportRows = 10000

// exportRow is one sample of GET /api/export/samples (§2.16); nulls read as 0.
type exportRow struct {
	SampleID       string            `json:"sample_id"`
	Timestamp      httpapi.Timestamp `json:"timestamp"`
	DeviceID       string            `json:"device_id"`
	FinalScore     float64           `json:"final_score"`
	FinalGrade     string            `json:"final_grade"`
	VolumeMM3      float64           `json:"volume_mm3"`
	HeightMM       float64           `json:"height_mm"`
	VL53L8CHScore  float64           `json:"vl53l8ch_score"`
	AS7341Score    float64           `json:"as7341_score"`
	FreshnessIndex float64           `json:"freshness_index"`
}

var exportHeader = []string{"Sample ID", "Timestamp", "Device ID", "Final Score", "Final Grade", "Volume (mm³)",
	"Height (mm)", "VL53L8CH Score", "AS7341 Score", "Freshness Index"}

// export serves GET /api/export/samples: the samples of a period (device optional),
// newest first, at most 10,000, as a CSV attachment (default, streamed) or a JSON array.
// Filters are bind parameters (the former target interpolated them into SQL).
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	f := periodFilter(p)
	format := p.Query("format").String("csv")
	limit := min(max(p.Query("limit").Int(maxExportRows), 1), maxExportRows)
	if !p.Check(w) {
		return
	}
	if format != "csv" && format != "json" {
		detail(w, http.StatusBadRequest, "Unsupported format: "+format)
		return
	}
	var args []any
	where := f.where(&args)
	rows, err := s.db.Query(r.Context(), `SELECT sample_id, "timestamp", device_id, fusion_final_score, fusion_final_grade,
  COALESCE(vl53l8ch_volume_mm3, 0), COALESCE(vl53l8ch_avg_height_mm, 0),
  COALESCE(fusion_vl53l8ch_score, vl53l8ch_quality_score, 0), COALESCE(fusion_as7341_score, as7341_quality_score, 0),
  COALESCE(`+freshnessSQL+`, 0)
FROM sensor_samples WHERE `+where+fmt.Sprintf(` ORDER BY "timestamp" DESC, sample_id DESC LIMIT %d`, limit), args...)
	if err != nil {
		fail(w, r, fmt.Errorf("export samples: %w", err))
		return
	}
	defer rows.Close()
	scan := func() (exportRow, error) {
		var e exportRow
		var ts time.Time
		err := rows.Scan(&e.SampleID, &ts, &e.DeviceID, &e.FinalScore, &e.FinalGrade, &e.VolumeMM3, &e.HeightMM,
			&e.VL53L8CHScore, &e.AS7341Score, &e.FreshnessIndex)
		e.Timestamp = httpapi.Timestamp(ts)
		return e, err
	}
	name := "sqal_export_" + s.now().UTC().Format("20060102_150405")

	if format == "json" {
		out := []exportRow{}
		for rows.Next() {
			e, err := scan()
			if err != nil {
				fail(w, r, fmt.Errorf("export samples: %w", err))
				return
			}
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			fail(w, r, fmt.Errorf("export samples: %w", err))
			return
		}
		w.Header().Set("Content-Disposition", "attachment; filename="+name+".json")
		httpapi.JSON(w, http.StatusOK, out)
		return
	}

	// CSV is streamed: the header is sent before the first row is read, so a failure
	// past that point can only be logged (the client sees a truncated file).
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", "attachment; filename="+name+".csv")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(exportHeader)
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for rows.Next() {
		e, err := scan()
		if err != nil {
			s.logger.ErrorContext(r.Context(), "export samples: CSV stream cut", "error", err)
			break
		}
		if err := cw.Write([]string{e.SampleID, httpapi.FormatTime(time.Time(e.Timestamp)), e.DeviceID, num(e.FinalScore),
			e.FinalGrade, num(e.VolumeMM3), num(e.HeightMM), num(e.VL53L8CHScore), num(e.AS7341Score), num(e.FreshnessIndex)}); err != nil {
			return // client gone
		}
	}
	if err := rows.Err(); err != nil {
		s.logger.ErrorContext(r.Context(), "export samples: CSV stream cut", "error", err)
	}
	cw.Flush()
}
