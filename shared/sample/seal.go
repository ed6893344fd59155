package sample

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Seal records the integrity seal of a compliant sample: the SHA-256 of the frame exactly
// as received (recomputable at any time from raw_message, so an altered stored frame is
// detected) and the time it was sealed. It fills sensor_update.blockchain and the
// blockchain_hash / blockchain_timestamp columns, which the legacy backend never wrote
// (the dashboard's traceability page lists only samples that carry a hash). Samples that
// are not compliant are not eligible for a consumer product and get no seal. The seal is
// not chained: linking seals into the consumer-product hash chain is the traceability
// step's job.
func (s *Sample) Seal(at time.Time) {
	if !s.Fusion.IsCompliant || s.Fusion.FinalGrade == "REJECT" || s.Frame == nil {
		return
	}
	sum := sha256.Sum256(s.Frame.Raw)
	h := hex.EncodeToString(sum[:])
	t := at.UTC().Truncate(time.Microsecond)
	s.SealHash, s.SealTime = &h, &t
}

// VerifySeal reports whether frame is the frame a seal was computed from.
func VerifySeal(frame []byte, hash string) bool {
	sum := sha256.Sum256(frame)
	return hex.EncodeToString(sum[:]) == hash
}
