package sample

import (
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// raw_message encodings (sensor_samples.raw_message_encoding).
const (
	// EncodingHist (written since the storage rework): the frame with its time-of-flight
	// histogram (vl53l8ch_raw.bins_matrix) as fixed-point integers, everything else
	// byte for byte. See "Stored form" below.
	EncodingHist = "zstd-hq1"
	// EncodingZstd: raw_message is one zstd frame of the frame bytes exactly as received.
	// Written for frames without a quantisable histogram (and by earlier versions for
	// every frame); always readable.
	EncodingZstd = "zstd"
	// EncodingJSON: raw_message is the frame bytes as received, uncompressed.
	EncodingJSON = "json"
)

// Stored form (contract §1.8: the frame must be recoverable losslessly, "a compact jsonb
// without the histogram plus the histogram packed as integers" being explicitly fine).
//
// Why not zstd of the whole frame any more: the 8x8x128 histogram holds ~4,300
// full-precision noisy doubles (0.3577512036644679): ~28 KB of pure entropy, alone more
// than twice the storage budget (15% of the frame as jsonb, ~12 KB per sample), and its
// zstd was ~45% of the ingest CPU. So the histogram is stored at a fixed precision and
// the rest of the frame exactly:
//
//   - The histogram value is cut out of the frame and quantised to integers
//     q = round(x * 10^3) (HistScaleExp; half away from zero, computed exactly on the
//     decimal text): maximum absolute error 0.0005 on values 0-29.2. Measured on the
//     fixtures (sample-1, COPY of 500 rows like tools/bench-ingest): the packed
//     histogram is ~4.9 KB at 10^-2, ~6.4 KB at 10^-3, ~8.6 KB at 10^-4, and a stored
//     full sample (row, TOAST, indexes) 19.7, 21.4 and 24.8 KB = 24.4%, 26.5% and 30.8%
//     of the frame as pglz jsonb (80.6 KB): no precision meets the 15% budget (12.1 KB),
//     because the row's typed columns, TOAST overhead and indexes alone take ~9.4 KB
//     (vl53l8ch_bins_analysis is 3.8 KB of it). 10^-3 is kept: 10^-2 would save 1.7 KB
//     (2 points) but misplace the small noise bins (a fifth of the non-zero cells are
//     under 0.05) by 5% on average and zero 2% of them; at 10^-3 the mean relative
//     error is 0.8% and 0.2% are zeroed.
//   - Packing: a zero bitmap (half the cells are exactly 0), then the non-zero values as
//     byte planes, each stream with its own Huffman table (huff0) or raw when that does
//     not pay (the low bytes are near-uniform noise). See packHist.
//   - The rest of the frame (~29 KB of JSON: other matrices, analyses, floats intact)
//     is zstd-compressed (fastest level, ~0.04 ms) against an embedded raw dictionary
//     (rawdict1.json: the skeleton of a station frame — keys, constant strings such as
//     the user_guide tooltips, structure — with its measured numbers replaced by 0.0,
//     made from fixture sample-2; it holds no measurement, so it helps any frame of the
//     same firmware and does not favour the frame the benchmark sends, sample-1):
//     ~9.1 KB without the dictionary, ~5.6 KB with it.
//
// DecodeRaw returns the canonical frame: every byte outside the histogram value is the
// original byte; the histogram value is re-rendered from the integers (same nesting,
// "0.0" / "7.741" / "12.0" number spelling, the original's ", " or "," separator).
// So the canonical frame is the original frame byte for byte outside the histogram, and
// semantically identical inside it at the stored precision. The integrity seal (Seal)
// is the SHA-256 of the canonical frame, which is what the database gives back:
// VerifySeal(DecodeRaw(encoding, raw_message), blockchain_hash).
//
// Frames whose histogram is absent, not a regular 3-level array of plain numbers, or
// whose non-finite tokens (NaN) had to be rewritten are stored whole with EncodingZstd
// (byte-exact; canonical frame = original frame).
//
// Binary layout of EncodingHist (integers are unsigned varints):
//
//	flags (flagCompact, flagSigned) | exponent | histogram offset in the rest |
//	dims[0] dims[1] dims[2] | value planes | length of A |
//	A = zstd(rest of the frame, dictionary rawDict1ID) | histogram streams (packHist)
//
// rawdict1.json must never change: rows written with it need it to be read
// (TestRawDictionaryNeverChanges). A new dictionary gets a new dictionary id and a new
// encoding name.

//go:embed rawdict1.json
var rawDict1 []byte

// rawDict1ID is the zstd dictionary id written in the frames compressed with rawDict1.
const rawDict1ID = 0x5351_0001

var (
	encOnce, restOnce sync.Once
	zEnc, zRest       *zstd.Encoder
	decOnce           sync.Once
	zDec              *zstd.Decoder
)

// The coders are built on first use (and separately: the ingest only encodes, readers
// only decode; whole frames and rests have their own encoder) so that a process keeps
// its idle footprint small.
func newEncoder(opts ...zstd.EOption) *zstd.Encoder {
	e, err := zstd.NewWriter(nil, append(opts,
		// Memory: with the level's 4 MiB window each encoder keeps an 8 MiB history
		// buffer alive; a 256 KiB window with the lower-memory history keeps ~0.4 MiB
		// and produces the same bytes for every frame up to 256 KiB (a full frame is
		// 140 KB; larger ones still round-trip exactly, with matches limited to the
		// window). Set after the level so the level's block size stays.
		zstd.WithWindowSize(256<<10),
		zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithEncoderCRC(false), // PostgreSQL pages are checksummed; save 4 bytes and a pass
		zstd.WithZeroFrames(true))...)
	if err != nil {
		panic(fmt.Sprintf("zstd encoder: %v", err)) // static options
	}
	return e
}

// wholeEncoder compresses whole frames (EncodingZstd): the fastest level, a frame can be
// 140 KB.
func wholeEncoder() *zstd.Encoder {
	encOnce.Do(func() { zEnc = newEncoder(zstd.WithEncoderLevel(zstd.SpeedFastest)) })
	return zEnc
}

// restEncoder compresses the ~29 KB rest of a frame (EncodingHist) with the dictionary.
// Measured on sample-1 (CPU per frame, bytes): fastest 41 us, 5,694; default 88 us,
// 5,599; better 245 us, 5,411. Under load the default level's larger tables cost ~3x
// more (cache misses; profiled in the ingest process): 95 bytes (0.1% of the frame as
// jsonb) do not pay for that.
func restEncoder() *zstd.Encoder {
	restOnce.Do(func() {
		zRest = newEncoder(zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderDictRaw(rawDict1ID, rawDict1))
	})
	return zRest
}

func decoder() *zstd.Decoder {
	decOnce.Do(func() {
		var err error
		zDec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20),
			zstd.WithDecoderDictRaw(rawDict1ID, rawDict1))
		if err != nil {
			panic(fmt.Sprintf("zstd decoder: %v", err))
		}
	})
	return zDec
}

// EncodeRaw returns the compact stored form of a frame (raw_message) and its encoding
// name (raw_message_encoding). dst is reused when it has capacity. DecodeRaw gives back
// CanonicalFrame(frame). The ingest uses Sample.EncodeRaw, which reuses the decoded frame.
func EncodeRaw(dst, frame []byte) ([]byte, string) {
	var h *histSplit
	if f, err := Decode(frame); err == nil {
		h = f.histogram()
	}
	return encodeRaw(dst, frame, h)
}

// EncodeRaw is the package-level EncodeRaw for the sample's frame.
func (s *Sample) EncodeRaw(dst []byte) ([]byte, string) {
	return encodeRaw(dst, s.Frame.Raw, s.Frame.histogram())
}

// histogram returns the frame's quantised histogram (computed once), nil when the
// frame is stored whole.
func (f *Frame) histogram() *histSplit {
	if !f.histDone {
		f.histDone = true
		f.hist, _ = splitHistogram(f)
	}
	return f.hist
}

func encodeRaw(dst, frame []byte, h *histSplit) ([]byte, string) {
	if h == nil {
		return wholeEncoder().EncodeAll(frame, dst[:0]), EncodingZstd
	}
	payload, planes, signed := packHist(make([]byte, 0, 16+(len(h.q)+7)/8+2*len(h.q)), h.q)
	flags := 0
	if h.compact {
		flags |= flagCompact
	}
	if signed {
		flags |= flagSigned
	}
	// The rest without the histogram value, and its compressed form, in pooled buffers.
	bufs := restPool.Get().(*[2][]byte)
	defer restPool.Put(bufs)
	rest := append(append(bufs[0][:0], frame[:h.start]...), frame[h.end:]...)
	restZ := restEncoder().EncodeAll(rest, bufs[1][:0])
	bufs[0], bufs[1] = rest, restZ

	out := dst[:0]
	for _, v := range []int{flags, h.exp, h.start, h.dims[0], h.dims[1], h.dims[2], planes, len(restZ)} {
		out = appendUvarint(out, v)
	}
	out = append(out, restZ...)
	return append(out, payload...), EncodingHist
}

var restPool = sync.Pool{New: func() any { return new([2][]byte) }}

// Header flags of EncodingHist.
const (
	flagCompact = 1 // "," separators in the histogram (else ", ")
	flagSigned  = 2 // values stored zigzag (some are negative)
)

// DecodeRaw returns the canonical frame from a stored raw_message: the frame bytes as
// received for EncodingZstd and EncodingJSON, the frame with its histogram at the
// stored precision for EncodingHist (see "Stored form").
func DecodeRaw(encoding string, stored []byte) ([]byte, error) {
	switch encoding {
	case EncodingHist:
		out, err := decodeHist(stored)
		if err != nil {
			return nil, fmt.Errorf("decode raw_message (%s): %w", encoding, err)
		}
		return out, nil
	case EncodingZstd:
		out, err := decoder().DecodeAll(stored, nil)
		if err != nil {
			return nil, fmt.Errorf("decode raw_message (zstd): %w", err)
		}
		return out, nil
	case EncodingJSON:
		return stored, nil
	}
	return nil, fmt.Errorf("decode raw_message: unknown encoding %q", encoding)
}

var errCorrupt = errors.New("corrupt header")

func decodeHist(b []byte) ([]byte, error) {
	var hdr [8]int
	for i := range hdr {
		v, rest, ok := readUvarint(b)
		if !ok {
			return nil, errCorrupt
		}
		hdr[i], b = v, rest
	}
	flags, exp, start := hdr[0], hdr[1], hdr[2]
	dims := [3]int{hdr[3], hdr[4], hdr[5]}
	planes, restLen := hdr[6], hdr[7]
	for _, d := range dims {
		if d < 1 || d > maxHistCells {
			return nil, errCorrupt
		}
	}
	n := dims[0] * dims[1] * dims[2]
	if exp >= len(pow10) || n > maxHistCells || restLen > len(b) {
		return nil, errCorrupt
	}
	rest, err := decoder().DecodeAll(b[:restLen], nil)
	if err != nil {
		return nil, err
	}
	q, ok := unpackHist(b[restLen:], n, planes, flags&flagSigned != 0)
	if !ok || start > len(rest) {
		return nil, errCorrupt
	}
	out := make([]byte, 0, len(rest)+n*8)
	out = append(out, rest[:start]...)
	out = appendHist(out, dims, exp, flags&flagCompact != 0, q)
	return append(out, rest[start:]...), nil
}

// CanonicalFrame returns the frame as the database keeps it (what DecodeRaw returns
// after EncodeRaw): frame itself, or frame with its histogram at the stored precision.
func CanonicalFrame(frame []byte) []byte {
	f, err := Decode(frame)
	if err != nil {
		return frame
	}
	if h := f.histogram(); h != nil {
		return h.canonical(frame, make([]byte, 0, len(frame)))
	}
	return frame
}

// canonicalSum is the SHA-256 of the canonical frame of f.
func (f *Frame) canonicalSum() [32]byte {
	if h := f.histogram(); h != nil {
		return h.canonicalSum(f.Raw)
	}
	return sha256.Sum256(f.Raw)
}
