package features

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sqalfn/sqal/shared/sample"
)

// ErrSampleNotFound is returned by Load for an unknown sample_id.
var ErrSampleNotFound = errors.New("sample not found")

// Querier is what the loaders need from a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Stored is one sample read back from sensor_samples: its identity, the device's own
// fusion verdict (the default training label) and the inputs of Extract.
type Stored struct {
	SampleID   string
	DeviceID   string
	Timestamp  time.Time
	FinalScore float64
	FinalGrade string
	Sample     Sample
}

// Loader reads samples for feature extraction.
type Loader struct {
	// Histograms says whether to read the 8x8x128 histogram. It is costly (ingestion keeps
	// it only inside the compressed raw frame, about 1 ms to decode), so a model that does
	// not use the hist_ features is served and trained without it.
	Histograms bool
}

const selectColumns = `sample_id, device_id, "timestamp", fusion_final_score, fusion_final_grade,
	vl53l8ch_distance_matrix, vl53l8ch_reflectance_matrix, vl53l8ch_amplitude_matrix,
	COALESCE(vl53l8ch_volume_mm3, 0), COALESCE(vl53l8ch_surface_uniformity, 0),
	COALESCE(vl53l8ch_defect_count, 0), COALESCE(vl53l8ch_quality_score, 0), as7341_channels,
	COALESCE(as7341_freshness_index, 0), COALESCE(as7341_fat_quality_index, 0),
	COALESCE(as7341_oxidation_index, 0), COALESCE(as7341_quality_score, 0),
	COALESCE(fusion_vl53l8ch_score, 0), COALESCE(fusion_as7341_score, 0)`

func (l Loader) columns() string {
	if !l.Histograms {
		return selectColumns + `, NULL::jsonb, NULL::bytea, NULL::text`
	}
	return selectColumns + `, vl53l8ch_bins_matrix,
		CASE WHEN vl53l8ch_bins_matrix IS NULL THEN raw_message END, raw_message_encoding`
}

// Load reads one sample by sample_id.
func (l Loader) Load(ctx context.Context, q Querier, sampleID string) (Stored, error) {
	row := q.QueryRow(ctx, `SELECT `+l.columns()+` FROM sensor_samples WHERE sample_id = $1`, sampleID)
	s, err := l.scan(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return Stored{}, fmt.Errorf("load sample %s: %w", sampleID, ErrSampleNotFound)
	}
	if err != nil {
		return Stored{}, fmt.Errorf("load sample %s: %w", sampleID, err)
	}
	return s, nil
}

// Window selects the samples a training run reads.
type Window struct {
	From, To time.Time // inclusive bounds on "timestamp"; zero = unbounded
	Limit    int       // newest first; 0 = no limit
}

// Each streams the samples of w, newest first, to fn. A sample whose stored matrices
// cannot be decoded is skipped and counted (bad rows must not block a training run).
func (l Loader) Each(ctx context.Context, q Querier, w Window, fn func(Stored) error) (skipped int, err error) {
	sql := `SELECT ` + l.columns() + ` FROM sensor_samples
		WHERE ($1::timestamptz IS NULL OR "timestamp" >= $1) AND ($2::timestamptz IS NULL OR "timestamp" <= $2)
		ORDER BY "timestamp" DESC, sample_id`
	args := []any{nullTime(w.From), nullTime(w.To)}
	if w.Limit > 0 {
		sql += ` LIMIT $3`
		args = append(args, w.Limit)
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("query samples: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		s, err := l.scan(rows)
		if err != nil {
			var de decodeError
			if errors.As(err, &de) {
				skipped++
				continue
			}
			return skipped, fmt.Errorf("scan sample: %w", err)
		}
		if err := fn(s); err != nil {
			return skipped, err
		}
	}
	if err := rows.Err(); err != nil {
		return skipped, fmt.Errorf("read samples: %w", err)
	}
	return skipped, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

type decodeError struct{ err error }

func (e decodeError) Error() string { return e.err.Error() }
func (e decodeError) Unwrap() error { return e.err }

func (l Loader) scan(row pgx.Row) (Stored, error) {
	var (
		s                         Stored
		dist, refl, amp, ch, bins []byte
		raw                       []byte
		encoding                  *string
		defects                   int64
	)
	err := row.Scan(&s.SampleID, &s.DeviceID, &s.Timestamp, &s.FinalScore, &s.FinalGrade,
		&dist, &refl, &amp, &s.Sample.VolumeMM3, &s.Sample.SurfaceUniformity, &defects,
		&s.Sample.ToFQuality, &ch, &s.Sample.Freshness, &s.Sample.FatQuality, &s.Sample.Oxidation,
		&s.Sample.SpectralQuality, &s.Sample.FusionToF, &s.Sample.FusionSpectral, &bins, &raw, &encoding)
	if err != nil {
		return Stored{}, err
	}
	s.Sample.DefectCount = float64(defects)
	if s.Sample.Distance, err = DecodeMatrix(dist); err != nil {
		return Stored{}, decodeError{fmt.Errorf("sample %s distance matrix: %w", s.SampleID, err)}
	}
	if refl != nil {
		if s.Sample.Reflectance, err = DecodeMatrix(refl); err != nil {
			return Stored{}, decodeError{fmt.Errorf("sample %s reflectance matrix: %w", s.SampleID, err)}
		}
	}
	if amp != nil {
		if s.Sample.Amplitude, err = DecodeMatrix(amp); err != nil {
			return Stored{}, decodeError{fmt.Errorf("sample %s amplitude matrix: %w", s.SampleID, err)}
		}
	}
	if s.Sample.Channels, err = DecodeChannels(ch); err != nil {
		return Stored{}, decodeError{fmt.Errorf("sample %s channels: %w", s.SampleID, err)}
	}
	switch {
	case bins != nil && string(bins) != "null":
		if s.Sample.Histogram, err = DecodeHistogram(bins); err != nil {
			return Stored{}, decodeError{fmt.Errorf("sample %s histogram: %w", s.SampleID, err)}
		}
	case raw != nil && encoding != nil:
		// The histogram is optional on the wire and legacy never validated it: a frame
		// without a usable one is scored with hist_present = 0 rather than refused.
		if frame, err := sample.DecodeRaw(*encoding, raw); err == nil {
			s.Sample.Histogram, _ = HistogramFromFrame(frame)
		}
	}
	return s, nil
}

// DecodeMatrix decodes an 8x8 JSON matrix (array of 8 arrays of 8 numbers) into 64
// row-major values.
func DecodeMatrix(b []byte) ([]float64, error) {
	var m [][]float64
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode 8x8 matrix: %w", err)
	}
	if len(m) != 8 {
		return nil, fmt.Errorf("decode 8x8 matrix: %d rows, want 8", len(m))
	}
	out := make([]float64, 0, Zones)
	for i, r := range m {
		if len(r) != 8 {
			return nil, fmt.Errorf("decode 8x8 matrix: row %d has %d values, want 8", i, len(r))
		}
		out = append(out, r...)
	}
	return out, nil
}

// DecodeChannels decodes the as7341_channels object; every one of the 10 channels is required.
func DecodeChannels(b []byte) ([10]float64, error) {
	var out [10]float64
	var m map[string]*float64
	if err := json.Unmarshal(b, &m); err != nil {
		return out, fmt.Errorf("decode spectral channels: %w", err)
	}
	for i, n := range ChannelNames {
		v, ok := m[n]
		if !ok || v == nil {
			return out, fmt.Errorf("decode spectral channels: channel %s missing", n)
		}
		out[i] = *v
	}
	return out, nil
}
