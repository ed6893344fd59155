package ml

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Artefact layout (all that is needed to serve a model, in one byte string):
//
//	magic   "SQALMDL\n"            8 bytes
//	format  uint16 big endian      ArtefactFormat
//	sha256  of the payload         32 bytes
//	payload gzip(JSON(Model))
//
// The checksum makes a truncated or altered artefact fail loudly at load time instead of
// serving a model with silently wrong weights.
const (
	artefactMagic = "SQALMDL\n"
	// ArtefactFormat is the current layout version.
	ArtefactFormat = 1
	headerLen      = len(artefactMagic) + 2 + sha256.Size
	// maxArtefact bounds decompression (a model is a few hundred KB at most).
	maxArtefact = 64 << 20
)

// ErrCorruptArtefact is wrapped by every Unmarshal failure caused by the bytes themselves.
var ErrCorruptArtefact = errors.New("corrupt model artefact")

// Marshal serialises m into an artefact.
func Marshal(m *Model) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("marshal model: %w", err)
	}
	var payload bytes.Buffer
	zw := gzip.NewWriter(&payload)
	if err := json.NewEncoder(zw).Encode(m); err != nil {
		return nil, fmt.Errorf("marshal model %s %s: %w", m.Name, m.Version, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("marshal model %s %s: %w", m.Name, m.Version, err)
	}
	sum := sha256.Sum256(payload.Bytes())
	out := make([]byte, 0, headerLen+payload.Len())
	out = append(out, artefactMagic...)
	out = binary.BigEndian.AppendUint16(out, ArtefactFormat)
	out = append(out, sum[:]...)
	return append(out, payload.Bytes()...), nil
}

// Checksum is the hex sha256 of a whole artefact (stored next to it in the registry).
func Checksum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Unmarshal decodes and validates an artefact. Any defect of the bytes gives an error
// wrapping ErrCorruptArtefact that says what is wrong.
func Unmarshal(b []byte) (*Model, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrCorruptArtefact, len(b), headerLen)
	}
	if string(b[:len(artefactMagic)]) != artefactMagic {
		return nil, fmt.Errorf("%w: not a SQAL model artefact (bad magic)", ErrCorruptArtefact)
	}
	if f := binary.BigEndian.Uint16(b[len(artefactMagic):]); f != ArtefactFormat {
		return nil, fmt.Errorf("%w: artefact format %d, this build reads format %d", ErrCorruptArtefact, f, ArtefactFormat)
	}
	want := b[len(artefactMagic)+2 : headerLen]
	payload := b[headerLen:]
	got := sha256.Sum256(payload)
	if !bytes.Equal(want, got[:]) {
		return nil, fmt.Errorf("%w: checksum mismatch (header %x…, payload %x…): the artefact was altered or truncated",
			ErrCorruptArtefact, want[:6], got[:6])
	}
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not gzip: %v", ErrCorruptArtefact, err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxArtefact+1))
	if err != nil {
		return nil, fmt.Errorf("%w: decompress payload: %v", ErrCorruptArtefact, err)
	}
	if len(raw) > maxArtefact {
		return nil, fmt.Errorf("%w: payload larger than %d bytes", ErrCorruptArtefact, maxArtefact)
	}
	var m Model
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: decode model: %v", ErrCorruptArtefact, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptArtefact, err)
	}
	return &m, nil
}
