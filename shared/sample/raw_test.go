package sample

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// The dictionary of EncodingHist is part of the stored format: rows need it to be read.
func TestRawDictionaryNeverChanges(t *testing.T) {
	sum := sha256.Sum256(rawDict1)
	if got := hex.EncodeToString(sum[:]); got != "f674b69e3242dc006c4a32c6ec0a8e33a77d83d639655e6ec18760808d727f88" {
		t.Fatalf("rawdict1.json changed (sha256 %s): stored rows need the original; add rawdict2 and a new encoding instead", got)
	}
}

// Rows written before EncodingHist (zstd of the whole frame, no dictionary) stay readable.
func TestOldZstdRowsReadable(t *testing.T) {
	raw := fixtures.Load(t, fixtures.Sample1)
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false))
	back, err := DecodeRaw(EncodingZstd, enc.EncodeAll(raw, nil))
	if err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("old zstd row: %v", err)
	}
}

// The histogram comes back within half a step of the stored precision, everything
// else byte for byte; the stored form is a fraction of the frame.
func TestHistogramPrecision(t *testing.T) {
	for _, name := range []string{fixtures.Sample1, fixtures.Sample2} {
		raw := fixtures.Load(t, name)
		if f, err := Decode(raw); err != nil || f.preHist == nil {
			t.Fatalf("%s: the validator did not quantise the histogram (%v)", name, err)
		} else {
			checkPreHist(t, f)
		}
		stored, enc := EncodeRaw(nil, raw)
		if enc != EncodingHist {
			t.Fatalf("%s: encoding %s", name, enc)
		}
		back, err := DecodeRaw(enc, stored)
		if err != nil {
			t.Fatal(err)
		}
		orig, got := bins(t, raw), bins(t, back)
		if len(orig) != 8192 || len(got) != len(orig) {
			t.Fatalf("%s: %d / %d cells", name, len(orig), len(got))
		}
		var maxErr float64
		for i := range orig {
			maxErr = math.Max(maxErr, math.Abs(orig[i]-got[i]))
		}
		if maxErr > 0.5e-3+1e-12 {
			t.Errorf("%s: max error %g", name, maxErr)
		}
		// Outside the histogram value the bytes are the original ones.
		i := bytes.Index(raw, []byte(`"bins_matrix": [`)) + len(`"bins_matrix": `)
		j := bytes.Index(back, []byte(`"bins_matrix": [`)) + len(`"bins_matrix": `)
		tailRaw := raw[i+len(rawMember(t, raw)):]
		tailBack := back[j+len(rawMember(t, back)):]
		if !bytes.Equal(raw[:i], back[:j]) || !bytes.Equal(tailRaw, tailBack) {
			t.Errorf("%s: bytes outside the histogram differ", name)
		}
		if len(stored) > 14000 {
			t.Errorf("%s: %d stored bytes", name, len(stored))
		}
		t.Logf("%s: %d -> %d bytes, max histogram error %.6f", name, len(raw), len(stored), maxErr)
	}
}

func bins(t *testing.T, frame []byte) []float64 {
	t.Helper()
	var f struct {
		R struct {
			B [][][]float64 `json:"bins_matrix"`
		} `json:"vl53l8ch_raw"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, a := range f.R.B {
		for _, r := range a {
			out = append(out, r...)
		}
	}
	return out
}

func rawMember(t *testing.T, frame []byte) json.RawMessage {
	t.Helper()
	var f struct {
		R map[string]json.RawMessage `json:"vl53l8ch_raw"`
	}
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Fatal(err)
	}
	return f.R["bins_matrix"]
}

func TestHistogramEncodingCases(t *testing.T) {
	frame := func(bins string) string {
		return `{"sample_id":"x","vl53l8ch_raw":{"meta":{"n_bins":2},"bins_matrix":` + bins + `,"defects":{}},"z":1}`
	}
	for _, c := range []struct {
		name, bins string
		hist       bool   // stored as EncodingHist
		want       string // canonical histogram (hist only)
	}{
		{"python floats", `[[[0.0, 1.0004999, 29.2]], [[0.0005, -0.0005, 12]]]`, true, `[[[0.0, 1.0, 29.2]], [[0.001, -0.001, 12.0]]]`},
		{"compact", `[[[0.25,0.12345],[1e-3,2.5E+1]]]`, true, `[[[0.25,0.123],[0.001,25.0]]]`},
		{"whitespace", "[ [ [ 1 , 2,\n3 ] ] ]", true, `[[[1.0, 2.0, 3.0]]]`},
		{"exponents", `[[[1e-7, 123456e-3, 0e999999, -0.0, 5e-4, 4.9999e-4]]]`, true, `[[[0.0, 123.456, 0.0, 0.0, 0.001, 0.0]]]`},
		{"all zero", `[[[0, 0], [0, 0]]]`, true, `[[[0.0, 0.0], [0.0, 0.0]]]`},
		{"big values", `[[[1e9, -123456789.0126]]]`, true, `[[[1000000000.0, -123456789.013]]]`},
		{"too big", `[[[1e11]]]`, false, ""},
		{"ragged", `[[[1, 2], [3]]]`, false, ""},
		{"ragged outer", `[[[1]], [[2], [3]]]`, false, ""},
		{"flat", `[1, 2, 3]`, false, ""},
		{"two levels", `[[1, 2], [3, 4]]`, false, ""},
		{"four levels", `[[[[1]]]]`, false, ""},
		{"empty", `[]`, false, ""},
		{"empty rows", `[[[]]]`, false, ""},
		{"null", `[[[null, 1]]]`, false, ""},
		{"string", `[[["1"]]]`, false, ""},
		{"not an array", `{"a": 1}`, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(frame(c.bins))
			if f, err := Decode(in); err != nil {
				t.Fatal(err)
			} else {
				checkPreHist(t, f)
			}
			stored, enc := EncodeRaw(nil, in)
			back, err := DecodeRaw(enc, stored)
			if err != nil {
				t.Fatal(err)
			}
			if (enc == EncodingHist) != c.hist {
				t.Fatalf("encoding %s", enc)
			}
			want := in
			if c.hist {
				want = []byte(frame(c.want))
			}
			if !bytes.Equal(back, want) || !bytes.Equal(CanonicalFrame(in), want) {
				t.Fatalf("got  %s\nwant %s", back, want)
			}
		})
	}
	// Non-finite tokens rewritten by Decode: the frame is stored whole.
	in := []byte(frame(`[[[NaN, 1]]]`))
	if _, enc := EncodeRaw(nil, in); enc != EncodingZstd {
		t.Fatalf("NaN frame: %s", enc)
	}
	// Only vl53l8ch_raw.bins_matrix at the top level is quantised.
	for _, s := range []string{
		`{"bins_matrix":[[[0.12345]]]}`,
		`{"x":{"vl53l8ch_raw":{"bins_matrix":[[[0.12345]]]}}}`,
		`{"vl53l8ch":{"bins_matrix":[[[0.12345]]]}}`,
	} {
		if _, enc := EncodeRaw(nil, []byte(s)); enc != EncodingZstd {
			t.Errorf("%s: %s", s, enc)
		}
	}
}

func TestDecodeRawCorrupt(t *testing.T) {
	stored, _ := EncodeRaw(nil, fixtures.Load(t, fixtures.Sample1))
	for _, b := range [][]byte{nil, {0}, stored[:10], stored[:len(stored)-5], append(bytes.Clone(stored[:8]), 0xff, 0xff)} {
		if _, err := DecodeRaw(EncodingHist, b); err == nil {
			t.Errorf("corrupt %x accepted", b[:min(len(b), 12)])
		}
	}
}

// quantise agrees with exact rational arithmetic.
func FuzzQuantise(f *testing.F) {
	for _, s := range []string{"0", "-0.0005", "0.0004999", "1e-3", "29.2", "0.3577512036644679", "123456789.0125", "1E+2", "-2.5e-4", "7.0e0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s + ",")
		if !validJSON([]byte(s)) || !isNumber([]byte(s)) {
			return
		}
		q, next, ok := quantise(b, 0, HistScaleExp)
		r, okR := new(big.Rat).SetString(s)
		if !okR {
			t.Skip()
		}
		r.Mul(r, new(big.Rat).SetInt64(pow10[HistScaleExp]))
		// round half away from zero
		abs := new(big.Rat).Abs(r)
		abs.Add(abs, big.NewRat(1, 2))
		want := new(big.Int).Quo(abs.Num(), abs.Denom())
		if r.Sign() < 0 {
			want.Neg(want)
		}
		if !ok {
			if want.CmpAbs(big.NewInt(maxHistMagnitude)) <= 0 && len(strings.TrimLeft(s, "-0.")) < 12 && !strings.ContainsAny(s, "eE") {
				t.Fatalf("%s: refused", s)
			}
			return
		}
		if next != len(s) || !want.IsInt64() || want.Int64() != q {
			t.Fatalf("%s: quantise = %d (next %d), want %s", s, q, next, want)
		}
	})
}

// quantiseStrict accepts only valid JSON numbers and then agrees with quantise; it
// accepts the stations' form.
func FuzzQuantiseStrict(f *testing.F) {
	for _, s := range []string{"0.0", "-0.0005", "5.476879617318268", "01.5", "-.5", "1.", "1e3", "1.5e3", "12.34", "0", "-", "29.2]"} {
		f.Add(s)
	}
	for _, s := range []string{"0.0,", "5.476879617318268]", "-12.5,", "23.733585797500545 "} {
		if _, _, ok := quantiseStrict([]byte(s), 0, HistScaleExp); !ok {
			f.Errorf("%q refused", s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s + ",")
		q, next, ok := quantiseStrict(b, 0, HistScaleExp)
		if !ok {
			return
		}
		num := b[:next]
		if !validJSON(num) || !isNumber(num) {
			t.Fatalf("%q: accepted %q, not a JSON number", s, num)
		}
		v := validator{b: b}
		if !v.number() || v.i != next {
			t.Fatalf("%q: number() ends at %d, quantiseStrict at %d", s, v.i, next)
		}
		wq, wnext, wok := quantise(b, 0, HistScaleExp)
		if !wok || wq != q || wnext != next {
			t.Fatalf("%q: quantiseStrict = %d (next %d), quantise = %d (next %d, ok %v)", s, q, next, wq, wnext, wok)
		}
	})
}

// FuzzDecodeRaw: arbitrary stored bytes never panic DecodeRaw.
func FuzzDecodeRaw(f *testing.F) {
	stored, _ := EncodeRaw(nil, fixtures.Load(f, fixtures.Sample1))
	f.Add(stored)
	small, _ := EncodeRaw(nil, []byte(`{"vl53l8ch_raw":{"bins_matrix":[[[0.5, 0.0]],[[1.25, 3]]]}}`))
	f.Add(small)
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := DecodeRaw(EncodingHist, b)
		if err == nil && len(out) > 64<<20 {
			t.Fatal("oversized output")
		}
	})
}

// Values outside the rendering table (negative, >= 30) mixed with table values.
func TestHistogramRenderMixed(t *testing.T) {
	q := make([]int64, 300)
	for i := range q {
		switch i % 3 {
		case 0:
			q[i] = int64(i) * 12345
		case 1:
			q[i] = -int64(i) * 1000003
		default:
			q[i] = int64(i)
		}
	}
	got := appendHist(nil, [3]int{1, 1, len(q)}, 3, false, q)
	var want []byte
	want = append(want, "[[["...)
	for i, v := range q {
		if i > 0 {
			want = append(want, ", "...)
		}
		want = appendFixedSlow(want, v, 3)
	}
	want = append(want, "]]]"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// Headers whose dimensions overflow or exceed the limits are refused, not trusted.
func TestDecodeRawHugeDims(t *testing.T) {
	var b []byte
	for _, v := range []int{0, 3, 0, 1 << 30, 1 << 30, 1 << 4, 1, 0} {
		b = appendUvarint(b, v)
	}
	if _, err := DecodeRaw(EncodingHist, b); err == nil {
		t.Fatal("accepted")
	}
}
