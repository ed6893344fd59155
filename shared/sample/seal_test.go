package sample

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

func TestSealOnlyCompliantSamples(t *testing.T) {
	at := time.Date(2026, 11, 27, 7, 55, 54, 123456789, time.UTC)
	cases := []struct {
		fixture  string
		wantSeal bool
	}{
		{"ws-sensors-sample-1.json", true},       // grade A, compliant
		{"ws-sensors-sample-2.json", false},      // REJECT
		{"ws-sensors-sample-minimal.json", true}, // grade A
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			raw := fixtures.Load(t, c.fixture)
			f, err := Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			s, err := f.Sample()
			if err != nil {
				t.Fatal(err)
			}
			s.Seal(at)
			var u struct {
				Blockchain struct {
					Hash *string `json:"blockchain_hash"`
					Time *string `json:"blockchain_timestamp"`
				} `json:"blockchain"`
			}
			b, err := s.UpdateJSON()
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &u); err != nil {
				t.Fatal(err)
			}
			if !c.wantSeal {
				if s.SealHash != nil || u.Blockchain.Hash != nil || u.Blockchain.Time != nil {
					t.Fatalf("non-compliant sample sealed: %v", s.SealHash)
				}
				return
			}
			// The seal covers the canonical frame (the frame as stored: here the
			// histogram at the stored precision), recomputable from raw_message.
			stored, enc := EncodeRaw(nil, raw)
			canonical, err := DecodeRaw(enc, stored)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(canonical)
			want := hex.EncodeToString(sum[:])
			if s.SealHash == nil || *s.SealHash != want || u.Blockchain.Hash == nil || *u.Blockchain.Hash != want {
				t.Fatalf("seal %v / update %v, want %s", s.SealHash, u.Blockchain.Hash, want)
			}
			if u.Blockchain.Time == nil || *u.Blockchain.Time != "2026-11-27T07:55:54.123456+00:00" {
				t.Fatalf("seal time %v", u.Blockchain.Time)
			}
			if !VerifySeal(canonical, want) {
				t.Fatal("VerifySeal rejects the stored frame")
			}
			if c.fixture == fixtures.Minimal && !VerifySeal(raw, want) {
				t.Fatal("VerifySeal rejects a frame stored byte for byte")
			}
			altered := append([]byte(nil), canonical...)
			altered[len(altered)/2] ^= 1
			if VerifySeal(altered, want) {
				t.Fatal("VerifySeal accepts an altered frame")
			}
		})
	}
}
