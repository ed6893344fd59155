package station

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/sample/fixtures"
)

// node is a JSON value with object keys in document order.
type node struct {
	kind  byte // o object, a array, n number, s string, b bool, z null
	keys  []string
	vals  []*node
	elems []*node
}

func parse(t *testing.T, b []byte) *node {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var read func() *node
	read = func() *node {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' {
				n := &node{kind: 'o'}
				for d.More() {
					k, _ := d.Token()
					n.keys = append(n.keys, k.(string))
					n.vals = append(n.vals, read())
				}
				d.Token()
				return n
			}
			n := &node{kind: 'a'}
			for d.More() {
				n.elems = append(n.elems, read())
			}
			d.Token()
			return n
		case json.Number:
			return &node{kind: 'n'}
		case string:
			return &node{kind: 's'}
		case bool:
			return &node{kind: 'b'}
		}
		return &node{kind: 'z'}
	}
	return read()
}

// sameShape reports the first difference of structure between want and got: object keys
// in the same order, same value kinds (null matches anything), matrix dimensions.
func sameShape(want, got *node, path string) error {
	if want.kind == 'z' || got.kind == 'z' {
		return nil
	}
	if want.kind != got.kind {
		return fmt.Errorf("%s: kind %c, want %c", path, got.kind, want.kind)
	}
	switch want.kind {
	case 'o':
		if strings.Join(want.keys, ",") != strings.Join(got.keys, ",") {
			return fmt.Errorf("%s: keys\n got %v\nwant %v", path, got.keys, want.keys)
		}
		for i, k := range want.keys {
			if err := sameShape(want.vals[i], got.vals[i], path+"."+k); err != nil {
				return err
			}
		}
	case 'a':
		if len(want.elems) == 0 || len(got.elems) == 0 {
			return nil
		}
		if (len(want.elems) == 8 || len(want.elems) == 128) && len(got.elems) != len(want.elems) {
			return fmt.Errorf("%s: %d elements, want %d", path, len(got.elems), len(want.elems))
		}
		// Mixed arrays (combined_defects holds ToF and spectral defects): every element
		// must be shaped like the first or the last element of the capture.
		for i, g := range got.elems {
			err := sameShape(want.elems[0], g, fmt.Sprintf("%s[%d]", path, i))
			if err != nil && sameShape(want.elems[len(want.elems)-1], g, path) == nil {
				err = nil
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func fixture(t *testing.T, name string) []byte { return fixtures.Load(t, name) }

func TestFramesShapedLikeTheLegacySimulator(t *testing.T) {
	// Sample-2 has both kinds of combined defects (ToF and spectral).
	want := parse(t, fixture(t, "ws-sensors-sample-2.json"))
	rng := rand.New(rand.NewPCG(1, 2))
	d := NewDevice("MT", 1, 1895)
	for _, p := range []Profile{Normal, Irregular, Defective} {
		for range 4 {
			s := d.Generate(rng, p, time.Now(), false)
			if err := sameShape(want, parse(t, s.JSON), "$"); err != nil {
				t.Fatalf("%s frame: %v", p, err)
			}
			if n := len(s.JSON); n < 110_000 || n > 170_000 {
				t.Fatalf("%s frame is %d bytes, want about 140 KB like the captures", p, n)
			}
		}
	}
	for _, f := range []struct{ name, gen string }{
		{"ws-sensors-hello.json", string(d.Hello(time.Now()))},
		{"ws-sensors-heartbeat.json", string(d.Heartbeat(time.Now(), HeartbeatStats{MeasurementsSent: 3}))},
	} {
		if err := sameShape(parse(t, fixture(t, f.name)), parse(t, []byte(f.gen)), "$"); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
	}
}

func TestSlimFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := NewDevice("LL", 1, 1).Generate(rng, Normal, time.Now(), true)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(s.JSON, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["vl53l8ch_raw"]; ok {
		t.Fatal("slim frame has vl53l8ch_raw")
	}
	if _, ok := m["as7341_raw"]; ok {
		t.Fatal("slim frame has as7341_raw")
	}
	if len(m) != 12 || len(s.JSON) > 40_000 {
		t.Fatalf("slim frame: %d keys, %d bytes", len(m), len(s.JSON))
	}
}

func TestScoresConsistentPerProfile(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	d := NewDevice("LS", 2, 42)
	mean := map[Profile]float64{}
	rejects := map[Profile]int{}
	const n = 150
	for _, p := range []Profile{Normal, Irregular, Defective} {
		for range n {
			s := d.Generate(rng, p, time.Now(), true)
			var f struct {
				VL53L8CH struct {
					QualityScore float64 `json:"quality_score"`
					Grade        string  `json:"grade"`
				} `json:"vl53l8ch"`
				AS7341 struct {
					QualityScore                                    float64 `json:"quality_score"`
					FreshnessIndex, FatQualityIndex, OxidationIndex float64
				} `json:"as7341"`
				Fusion struct {
					FinalScore    float64 `json:"final_score"`
					FinalGrade    string  `json:"final_grade"`
					ToFScore      float64 `json:"tof_score"`
					SpectralScore float64 `json:"spectral_score"`
					FoieGras      struct {
						IsCompliant bool `json:"is_compliant"`
					} `json:"foie_gras_metrics"`
				} `json:"fusion"`
			}
			if err := json.Unmarshal(s.JSON, &f); err != nil {
				t.Fatal(err)
			}
			fu := f.Fusion
			if math.Abs(fu.FinalScore-(0.6*fu.ToFScore+0.4*fu.SpectralScore)) > 1e-12 ||
				fu.ToFScore != f.VL53L8CH.QualityScore || fu.SpectralScore != f.AS7341.QualityScore {
				t.Fatalf("fusion score %v is not 0.6 x %v + 0.4 x %v", fu.FinalScore, fu.ToFScore, fu.SpectralScore)
			}
			if fu.FinalGrade != gradeOf(fu.FinalScore) || fu.FinalGrade != s.FinalGrade || f.VL53L8CH.Grade != gradeOf(fu.ToFScore) {
				t.Fatalf("grade %s for score %v", fu.FinalGrade, fu.FinalScore)
			}
			if fu.FoieGras.IsCompliant != (fu.FinalGrade != "REJECT") {
				t.Fatal("foie_gras_metrics.is_compliant disagrees with the grade")
			}
			for _, x := range []float64{fu.FinalScore, f.VL53L8CH.QualityScore, f.AS7341.QualityScore} {
				if x < 0 || x > 1 {
					t.Fatalf("score %v out of 0-1", x)
				}
			}
			mean[p] += fu.FinalScore / n
			if fu.FinalGrade == "REJECT" {
				rejects[p]++
			}
		}
	}
	if !(mean[Normal] > 0.78 && mean[Irregular] < mean[Normal]-0.1 && mean[Defective] < 0.45) {
		t.Fatalf("profile means %v", mean)
	}
	if rejects[Normal] != 0 || rejects[Defective] < n*8/10 {
		t.Fatalf("rejects per profile %v", rejects)
	}
}

func TestSampleIDs(t *testing.T) {
	d := NewDevice("MT", 3, 9998)
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	if got := d.NextSampleID(now); got != "MT-261127-9998-001" {
		t.Fatalf("first id %s", got)
	}
	for range 998 {
		d.NextSampleID(now)
	}
	if got := d.NextSampleID(now); got != "MT-261127-9999-001" {
		t.Fatalf("id after 999 samples %s, want the next lot", got)
	}
	if d.ID != "ESP32_DEMO_MT_03" {
		t.Fatalf("device id %s", d.ID)
	}
}
