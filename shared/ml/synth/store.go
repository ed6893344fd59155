package synth

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/tenant"
)

// Execer is a pool, a connection or a transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

var columns = []string{"timestamp", "device_id", "sample_id", "vl53l8ch_distance_matrix",
	"vl53l8ch_reflectance_matrix", "vl53l8ch_amplitude_matrix", "vl53l8ch_bins_matrix", "vl53l8ch_volume_mm3",
	"vl53l8ch_surface_uniformity", "vl53l8ch_defect_count", "vl53l8ch_quality_score", "vl53l8ch_grade",
	"as7341_channels", "as7341_freshness_index", "as7341_fat_quality_index", "as7341_oxidation_index",
	"as7341_quality_score", "fusion_final_score", "fusion_final_grade", "fusion_vl53l8ch_score",
	"fusion_as7341_score", "fusion_is_compliant"}

// Row returns the sensor_samples values of s (typed columns only, as ingestion fills
// them; the histogram goes to vl53l8ch_bins_matrix when generated).
func (s Sample) Row(ts time.Time) []any {
	f := s.Features
	ch := map[string]float64{}
	for i, n := range features.ChannelNames {
		ch[n] = f.Channels[i]
	}
	var bins []byte
	if f.Histogram != nil {
		m := make([][][]float64, 8)
		for r := range m {
			m[r] = make([][]float64, 8)
			for c := range m[r] {
				z := r*8 + c
				m[r][c] = f.Histogram[z*features.Bins : (z+1)*features.Bins]
			}
		}
		bins, _ = json.Marshal(m)
	}
	return []any{ts, s.DeviceID, s.SampleID, matrix(f.Distance), matrix(f.Reflectance), matrix(f.Amplitude), bins,
		f.VolumeMM3, f.SurfaceUniformity, int32(f.DefectCount), f.ToFQuality, "REJECT", mustJSON(ch),
		f.Freshness, f.FatQuality, f.Oxidation, f.SpectralQuality, s.FinalScore, s.FinalGrade,
		f.FusionToF, f.FusionSpectral, s.FinalGrade != "REJECT"}
}

// Insert stores generated samples in sensor_samples with COPY, one second apart ending
// at end, in the default organisation. COPY needs a role that bypasses row-level
// security (the owner: tests and tools seed with it).
func Insert(ctx context.Context, db Execer, samples []Sample, end time.Time) error {
	return InsertIn(ctx, db, tenant.DefaultOrganization, samples, end)
}

// InsertIn is Insert into organisation org.
func InsertIn(ctx context.Context, db Execer, org string, samples []Sample, end time.Time) error {
	rows := make([][]any, len(samples))
	for i, s := range samples {
		rows[i] = append(s.Row(end.Add(-time.Duration(len(samples)-1-i)*time.Second)), org)
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"sensor_samples"}, append(slices.Clip(columns), "organization_id"), pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("insert %d generated samples: %w", len(samples), err)
	}
	return nil
}

func matrix(v []float64) []byte {
	m := make([][]float64, 8)
	for r := range m {
		m[r] = v[r*8 : (r+1)*8]
	}
	return mustJSON(m)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Batch generates n samples.
func (g *Generator) Batch(n int) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}
