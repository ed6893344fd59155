package sample

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// raw_message encodings (sensor_samples.raw_message_encoding).
const (
	// EncodingZstd: raw_message is one zstd frame of the frame bytes exactly as received.
	EncodingZstd = "zstd"
	// EncodingJSON: raw_message is the frame bytes as received, uncompressed.
	EncodingJSON = "json"
)

// Why zstd of the original bytes (measured with BenchmarkEncodeRaw and the bench tool):
// it is byte-exact (the original JSON, key order and float spellings included, comes
// back), needs no second JSON encoder, and costs ~0.3 ms per 140 KB frame. The
// histogram is 4,300 non-zero full-precision doubles per frame, which no lossless
// packing brings below ~34 KB (8 bytes each); zstd of the text gets within ~30% of that.

var (
	encOnce sync.Once
	zEnc    *zstd.Encoder
	decOnce sync.Once
	zDec    *zstd.Decoder
)

// The coders are built on first use (and separately: the ingest only encodes, readers
// only decode) so that a process keeps its idle footprint small.
func encoder() *zstd.Encoder {
	encOnce.Do(func() {
		var err error
		zEnc, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			// Memory: with the level's 4 MiB window each encoder keeps an 8 MiB history
			// buffer alive; a 256 KiB window with the lower-memory history keeps ~0.4 MiB
			// and produces the same bytes for every frame up to 256 KiB (a full frame is
			// 140 KB; larger ones still round-trip exactly, with matches limited to the
			// window). Set after the level so the level's 64 KiB block size stays.
			zstd.WithWindowSize(256<<10),
			zstd.WithLowerEncoderMem(true),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithEncoderCRC(false), // PostgreSQL pages are checksummed; save 4 bytes and a pass
			zstd.WithZeroFrames(true))
		if err != nil {
			panic(fmt.Sprintf("zstd encoder: %v", err)) // static options
		}
	})
	return zEnc
}

func decoder() *zstd.Decoder {
	decOnce.Do(func() {
		var err error
		zDec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			panic(fmt.Sprintf("zstd decoder: %v", err))
		}
	})
	return zDec
}

// EncodeRaw returns the compact, lossless stored form of a frame (raw_message) and its
// encoding name (raw_message_encoding). dst is reused when it has capacity.
func EncodeRaw(dst, frame []byte) ([]byte, string) {
	return encoder().EncodeAll(frame, dst[:0]), EncodingZstd
}

// DecodeRaw returns the original frame bytes from a stored raw_message.
func DecodeRaw(encoding string, stored []byte) ([]byte, error) {
	switch encoding {
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
