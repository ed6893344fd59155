package sample

import (
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// go test -run '^$' -bench . -benchtime 2s ./shared/sample

func BenchmarkDecode(b *testing.B) {
	raw := fixtures.Load(b, fixtures.Sample1)
	b.SetBytes(int64(len(raw)))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeValidate(b *testing.B) {
	raw := fixtures.Load(b, fixtures.Sample1)
	b.SetBytes(int64(len(raw)))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		f, err := Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Sample(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdateJSON(b *testing.B) {
	s := mustSample(b, fixtures.Load(b, fixtures.Sample1))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if _, err := s.UpdateJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRow(b *testing.B) {
	s := mustSample(b, fixtures.Load(b, fixtures.Sample1))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		s.Row(nil, EncodingZstd)
	}
}

func BenchmarkEncodeRaw(b *testing.B) {
	raw := fixtures.Load(b, fixtures.Sample1)
	b.SetBytes(int64(len(raw)))
	var dst []byte
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		dst, _ = EncodeRaw(dst, raw)
	}
	b.ReportMetric(float64(len(dst)), "stored-bytes")
}

// BenchmarkEncodeRawParts splits EncodeRaw of a full frame: locating and quantising the
// histogram (the one parse of its 8,192 numbers), then packing and compressing.
func BenchmarkEncodeRawParts(b *testing.B) {
	raw := fixtures.Load(b, fixtures.Sample1)
	f, err := Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("quantise", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			if _, err := splitHistogram(f); err != nil {
				b.Fatal(err)
			}
		}
	})
	h, _ := splitHistogram(f)
	b.Run("compress", func(b *testing.B) {
		var dst []byte
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			dst, _ = encodeRaw(dst, raw, h)
		}
	})
	b.Run("seal", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			h.canonicalSum(raw)
		}
	})
	stored, enc := encodeRaw(nil, raw, h)
	b.Run("decode", func(b *testing.B) {
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			if _, err := DecodeRaw(enc, stored); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkZstdLevels documents the choice of SpeedFastest for whole frames.
func BenchmarkZstdLevels(b *testing.B) {
	raw := fixtures.Load(b, fixtures.Sample1)
	for _, lvl := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault, zstd.SpeedBetterCompression} {
		b.Run(lvl.String(), func(b *testing.B) {
			enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(1))
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

// BenchmarkIngestCPU is everything the ingest does per frame before the database.
func BenchmarkIngestCPU(b *testing.B) {
	raw := fixtures.Load(b, fixtures.Sample1)
	b.SetBytes(int64(len(raw)))
	var dst []byte
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		f, _ := Decode(raw)
		s, err := f.Sample()
		if err != nil {
			b.Fatal(err)
		}
		var enc string
		dst, enc = s.EncodeRaw(dst)
		s.Seal(time.Now())
		u, _ := s.UpdateJSON()
		s.Row(dst, enc)
		_ = u
	}
}

// cpuTime is this process's user+system CPU time. The benchmarks report it per
// operation ("cpu-ns/op") next to wall time: on a shared machine wall time measures
// the neighbours as much as the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
