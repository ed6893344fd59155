package sample

import (
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

func BenchmarkTmpZstd(b *testing.B) {
	raw := fixtures.Load(b, fixtures.Sample1)
	cases := map[string][]zstd.EOption{
		"cur":      {zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2), zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true)},
		"c1":       {zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false)},
		"c1low":    {zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false), zstd.WithLowerEncoderMem(true)},
		"c1w256":   {zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false), zstd.WithWindowSize(256 << 10)},
		"c1noent":  {zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false), zstd.WithNoEntropyCompression(true)},
		"c1single": {zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true)},
	}
	for name, opts := range cases {
		b.Run(name, func(b *testing.B) {
			enc, err := zstd.NewWriter(nil, opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(raw)))
			var dst []byte
			defer reportCPU(b, cpuTime())
			for b.Loop() {
				dst = enc.EncodeAll(raw, dst[:0])
			}
			b.ReportMetric(float64(len(dst)), "stored-bytes")
		})
	}
}
