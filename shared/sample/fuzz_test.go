package sample

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// FuzzDecodeSample feeds arbitrary bytes through everything the ingest runs on a frame
// from the network: decode, validate/adapt, column values, sensor_update, raw storage.
// Invariants: no panic; errors are of the documented kinds; an accepted frame yields
// valid JSON for every jsonb column and for sensor_update, and raw_message round-trips.
//
//	go test -run '^$' -fuzz FuzzDecodeSample -fuzztime 60s ./shared/sample
func FuzzDecodeSample(f *testing.F) {
	for _, name := range fixtures.All {
		f.Add(fixtures.Load(f, name))
	}
	f.Add([]byte(`{"a":NaN,"b":[Infinity,-Infinity],"c":"NaN"}`))
	f.Add([]byte(`{"vl53l8ch":{"defects":{"foreign_body":{"position":[1,2],"severity":0.5}}}}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"\u0074ype":"ping"}`))
	f.Add([]byte(`{"vl53l8ch_raw":{"bins_matrix":[[[0.5, 1e-3]],[[2,-0.25]]],"bins_matrix":[[[1]]]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrNotJSON) && !errors.Is(err, ErrNotObject) {
				t.Fatalf("unexpected decode error kind: %v", err)
			}
			return
		}
		if !json.Valid(fr.JSON) {
			t.Fatalf("Decode accepted invalid JSON")
		}
		checkPreHist(t, fr)
		s, err := fr.Sample()
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field == "" {
				t.Fatalf("unexpected validation error kind: %v", err)
			}
			return
		}
		stored, enc := EncodeRaw(nil, fr.Raw)
		row := s.Row(stored, enc)
		for i, v := range row {
			if j, ok := v.([]byte); ok && j != nil && Columns[i] != "raw_message" && !json.Valid(j) {
				t.Fatalf("column %s: invalid JSON %q", Columns[i], j)
			}
		}
		u, err := s.UpdateJSON()
		if err != nil || !json.Valid(u) {
			t.Fatalf("sensor_update: %v", err)
		}
		back, err := DecodeRaw(enc, stored)
		if err != nil || string(back) != string(CanonicalFrame(b)) {
			t.Fatalf("raw_message round trip: %v", err)
		}
		if enc != EncodingHist && string(back) != string(b) {
			t.Fatalf("raw_message (%s) is not byte-exact", enc)
		}
		if enc == EncodingHist {
			// The canonical frame is valid JSON and a fixed point: its histogram is
			// already at the stored precision.
			if !json.Valid(back) || string(CanonicalFrame(back)) != string(back) {
				t.Fatalf("canonical frame is not stable")
			}
		}
		if s.SealHash != nil {
			t.Fatal("sealed before Seal")
		}
		s.Seal(time.Unix(0, 0))
		if s.SealHash != nil && !VerifySeal(back, *s.SealHash) {
			t.Fatal("seal does not verify against the stored frame")
		}
	})
}

// checkPreHist: the histogram quantised by the validator is the one histSplit.parse
// reads from the member the frame designates.
func checkPreHist(t *testing.T, fr *Frame) {
	t.Helper()
	p := fr.preHist
	fr.preHist = nil
	want, werr := splitHistogram(fr)
	fr.preHist = p
	got, gerr := splitHistogram(fr)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("splitHistogram with the validator's histogram: %v, without: %v", gerr, werr)
	}
	if werr == nil && (got.start != want.start || got.end != want.end || got.dims != want.dims ||
		got.compact != want.compact || !slices.Equal(got.q, want.q)) {
		t.Fatalf("validator histogram %+v differs from parse %+v", got, want)
	}
}
