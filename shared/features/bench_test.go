package features_test

import (
	"testing"

	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// BenchmarkHistogramFromRaw is the per-prediction cost of a model that uses the
// histogram features: decompress the stored frame and extract bins_matrix.
func BenchmarkHistogramFromRaw(b *testing.B) {
	frame := fixtures.Load(b, fixtures.Sample1)
	raw, enc := sample.EncodeRaw(nil, frame)
	b.ReportAllocs()
	for b.Loop() {
		f, err := sample.DecodeRaw(enc, raw)
		if err != nil {
			b.Fatal(err)
		}
		h, err := features.HistogramFromFrame(f)
		if err != nil || len(h) != features.Zones*features.Bins {
			b.Fatal(err)
		}
	}
}

func BenchmarkExtract(b *testing.B) {
	frame := fixtures.Load(b, fixtures.Sample1)
	h, _ := features.HistogramFromFrame(frame)
	s := features.Sample{Distance: make([]float64, 64), Histogram: h}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := features.Extract(s); err != nil {
			b.Fatal(err)
		}
	}
}
