package alert

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Values of the captured fixtures (spec fixtures ws-sensors-sample-1/-2/-minimal).
var (
	sample1 = Sample{FinalScore: 0.8063076884853211, FinalGrade: "A", IsCompliant: true,
		ToFQualityScore: 0.0821520964152119, SpectralQualityScore: 0.9999999999999999,
		OxidationIndex: 0, FatQualityIndex: 1, FreshnessIndex: 1}
	sample2 = Sample{FinalScore: 0.3574481579851127, FinalGrade: "REJECT", IsCompliant: false,
		ToFQualityScore: 0.1599683221643556, SpectralQualityScore: 0.30260521173699473,
		OxidationIndex: 0.5091702765744752, FatQualityIndex: 0.49082972342552483, FreshnessIndex: 0.9192338177014531}
	minimal = Sample{FinalScore: 0.76, FinalGrade: "A", IsCompliant: true,
		ToFQualityScore: 0.7, SpectralQualityScore: 0.85, OxidationIndex: 0.2, FatQualityIndex: 0.8, FreshnessIndex: 0.9}
)

// healthy raises nothing; cases change one field of it.
var healthy = Sample{FinalScore: 0.9, FinalGrade: "A+", IsCompliant: true, ToFQualityScore: 0.9,
	SpectralQualityScore: 0.9, OxidationIndex: 0.1, FatQualityIndex: 0.9, FreshnessIndex: 0.9}

func with(f func(*Sample)) Sample { s := healthy; f(&s); return s }

func TestEvaluateTypes(t *testing.T) {
	cases := []struct {
		name string
		in   Sample
		want []string
	}{
		{"sample-1 fixture", sample1, nil},
		{"sample-2 fixture", sample2, []string{TypeQualityCritical, TypeGradeReject}},
		{"minimal fixture", minimal, nil},
		{"healthy", healthy, nil},
		{"score just below critical", with(func(s *Sample) { s.FinalScore = 0.3999999 }), []string{TypeQualityCritical}},
		{"score exactly critical is only low", with(func(s *Sample) { s.FinalScore = 0.40 }), []string{TypeQualityLow}},
		{"score just below low", with(func(s *Sample) { s.FinalScore = 0.5999999 }), []string{TypeQualityLow}},
		{"score exactly low raises nothing", with(func(s *Sample) { s.FinalScore = 0.60 }), nil},
		{"score zero", with(func(s *Sample) { s.FinalScore = 0 }), []string{TypeQualityCritical}},
		{"reject with good score", with(func(s *Sample) { s.FinalGrade = "REJECT" }), []string{TypeGradeReject}},
		{"grade compared after normalisation only", with(func(s *Sample) { s.FinalGrade = "REJET" }), nil},
		{"oxidation exactly threshold", with(func(s *Sample) { s.OxidationIndex = 0.70 }), nil},
		{"oxidation above", with(func(s *Sample) { s.OxidationIndex = 0.7000001 }), []string{TypeOxidationHigh}},
		{"freshness exactly threshold", with(func(s *Sample) { s.FreshnessIndex = 0.50 }), nil},
		{"freshness below", with(func(s *Sample) { s.FreshnessIndex = 0.4999999 }), []string{TypeFreshnessLow}},
		{"all rules in order", Sample{FinalScore: 0.1, FinalGrade: "REJECT", OxidationIndex: 0.9, FreshnessIndex: 0.1},
			[]string{TypeQualityCritical, TypeGradeReject, TypeOxidationHigh, TypeFreshnessLow}},
		{"low score with other rules", Sample{FinalScore: 0.5, FinalGrade: "C", OxidationIndex: 0.8, FreshnessIndex: 0.2},
			[]string{TypeQualityLow, TypeOxidationHigh, TypeFreshnessLow}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, a := range Evaluate(tc.in) {
				got = append(got, a.Type)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Evaluate types = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvaluateSample2Exact(t *testing.T) {
	got := Evaluate(sample2)
	if len(got) != 2 {
		t.Fatalf("got %d alerts, want 2", len(got))
	}
	crit, rej := got[0], got[1]
	if crit.Message != "Score qualité critique: 0.36 (seuil: 0.40)" || crit.Severity != SeverityCritical {
		t.Errorf("rule 1 = %q/%q", crit.Message, crit.Severity)
	}
	ctx, _ := json.Marshal(crit.Context)
	wantCtx := `{"fusion_grade":"REJECT","fusion_score":0.3574481579851127,"spectral_score":0.30260521173699473,"tof_score":0.1599683221643556}`
	if string(ctx) != wantCtx {
		t.Errorf("rule 1 context = %s, want %s", ctx, wantCtx)
	}
	if *crit.Threshold != 0.40 || *crit.Actual != 0.3574481579851127 {
		t.Errorf("rule 1 threshold/actual = %v/%v", *crit.Threshold, *crit.Actual)
	}
	if rej.Message != "Échantillon REJETÉ - Non conforme qualité" || rej.Severity != SeverityCritical {
		t.Errorf("rule 3 = %q/%q", rej.Message, rej.Severity)
	}
	ctx, _ = json.Marshal(rej.Context)
	if string(ctx) != `{"fusion_score":0.3574481579851127,"is_compliant":false}` {
		t.Errorf("rule 3 context = %s", ctx)
	}
	if rej.Threshold != nil || rej.Actual != nil {
		t.Errorf("rule 3 must have no threshold/actual")
	}
}

func TestMessages(t *testing.T) {
	cases := []struct {
		name string
		in   Sample
		want string
	}{
		{"low", with(func(s *Sample) { s.FinalScore = 0.555 }), "Score qualité faible: 0.56 (seuil: 0.60)"},
		// 0.125 is an exact binary half: Python rounds it to even ("0.12").
		{"exact half to even", with(func(s *Sample) { s.FinalScore = 0.125 }), "Score qualité critique: 0.12 (seuil: 0.40)"},
		{"exact half to even up", with(func(s *Sample) { s.FinalScore = 0.375 }), "Score qualité critique: 0.38 (seuil: 0.40)"},
		// 0.345 is stored as 0.34499999999999997335...: Python prints "0.34".
		{"binary below half", with(func(s *Sample) { s.FinalScore = 0.345 }), "Score qualité critique: 0.34 (seuil: 0.40)"},
		{"oxidation", with(func(s *Sample) { s.OxidationIndex = 0.755 }), "Indice oxydation élevé: 0.76 (seuil: 0.70)"},
		{"freshness", with(func(s *Sample) { s.FreshnessIndex = 0.005 }), "Indice fraîcheur faible: 0.01 (seuil: 0.50)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Evaluate(tc.in)
			if len(got) != 1 || got[0].Message != tc.want {
				t.Fatalf("got %+v, want one alert %q", got, tc.want)
			}
		})
	}
}

func TestEventID(t *testing.T) {
	if got := EventID("MG-261127-6331-083", TypeGradeReject); got != "MG-261127-6331-083:grade_reject" {
		t.Fatalf("EventID = %q", got)
	}
}
