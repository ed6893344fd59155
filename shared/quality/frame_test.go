package quality

import (
	"testing"

	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// TestFoieGrasFromCapturedFrames reads the values from the simulator's real frames,
// through the stored (compressed) form, as LoadWindow does.
func TestFoieGrasFromCapturedFrames(t *testing.T) {
	for _, tc := range []struct {
		name              string
		thickness, l, dE  *float64
		wantNilEverything bool
	}{
		{name: fixtures.Sample1, thickness: f(89.54175146866969), l: f(58.52826733806363), dE: f(20.34554944353816)},
		{name: fixtures.Minimal, wantNilEverything: true},
	} {
		stored, enc := sample.EncodeRaw(nil, fixtures.Load(t, tc.name))
		frame, err := sample.DecodeRaw(enc, stored)
		if err != nil {
			t.Fatal(err)
		}
		th, l, dE := FoieGrasFromFrame(frame)
		if tc.wantNilEverything {
			if th != nil || l != nil || dE != nil {
				t.Errorf("%s: got %v %v %v, want nothing", tc.name, th, l, dE)
			}
			continue
		}
		if th == nil || l == nil || dE == nil || *th != *tc.thickness || *l != *tc.l || *dE != *tc.dE {
			t.Errorf("%s: got %v %v %v", tc.name, th, l, dE)
		}
	}
}

func BenchmarkFoieGrasFromFrame(b *testing.B) {
	frame := fixtures.Load(b, fixtures.Sample1)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if th, _, _ := FoieGrasFromFrame(frame); th == nil {
			b.Fatal("no thickness")
		}
	}
}

func BenchmarkCompute(b *testing.B) {
	w := make([]Sample, WindowSize)
	for i := range w {
		w[i] = Sample{Grade: "A", FinalScore: 0.8, ThicknessMM: f(50 + float64(i%7)), DeltaE: f(3 + float64(i%3)),
			Channels: map[string]float64{"F7_630nm": 4000, "F8_680nm": 3800, "NIR": 1900}}
	}
	for b.Loop() {
		_ = Compute(w, 42)
	}
}
