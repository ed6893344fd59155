package sample

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Seal records the integrity seal of a compliant sample: the SHA-256 of the canonical
// frame, the frame as the database keeps it (DecodeRaw of raw_message; the frame as
// received with its histogram at the stored precision, see raw.go), so it can be
// recomputed at any time from raw_message and an altered stored frame is detected; and
// the time it was sealed. For frames stored whole (and every row written before the
// histogram was quantised) the canonical frame is the frame exactly as received (the
// histogram is quantised once for Seal and EncodeRaw). It fills sensor_update.blockchain
// and the blockchain_hash / blockchain_timestamp columns, which the legacy backend never wrote
// (the dashboard's traceability page lists only samples that carry a hash). Samples that
// are not compliant are not eligible for a consumer product and get no seal. The seal is
// not chained: linking seals into the consumer-product hash chain is the traceability
// step's job.
func (s *Sample) Seal(at time.Time) {
	if !s.Fusion.IsCompliant || s.Fusion.FinalGrade == "REJECT" || s.Frame == nil {
		return
	}
	sum := s.Frame.canonicalSum()
	h := hex.EncodeToString(sum[:])
	t := at.UTC().Truncate(time.Microsecond)
	s.SealHash, s.SealTime = &h, &t
}

// VerifySeal reports whether frame is the frame a seal was computed from: pass the
// canonical frame, DecodeRaw(raw_message_encoding, raw_message).
func VerifySeal(frame []byte, hash string) bool {
	sum := sha256.Sum256(frame)
	return hex.EncodeToString(sum[:]) == hash
}
