package ml

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/sqalfn/sqal/shared/features"
)

// TopContributions is how many features an explanation names; the rest is summed in Rest.
const TopContributions = 5

// Prediction is the output of a model for one sample.
type Prediction struct {
	// Score is the quality score in [0,1]; RawScore is the additive model's value before
	// clipping (Explanation sums to RawScore exactly).
	Score         float64            `json:"score"`
	RawScore      float64            `json:"raw_score"`
	Grade         string             `json:"grade"`
	Confidence    float64            `json:"confidence"`
	Probabilities map[string]float64 `json:"probabilities"`
	Explanation   Explanation        `json:"explanation"`
	Anomaly       *AnomalyResult     `json:"anomaly,omitempty"`
}

// Explanation is the exact additive decomposition of a prediction:
// Baseline + Σ Contributions[i].Contribution + Rest = RawScore. Grade holds the same
// decomposition of the logit of the predicted grade (nil for the rules model).
type Explanation struct {
	Method        string         `json:"method"`
	Baseline      float64        `json:"baseline"`
	Contributions []Contribution `json:"contributions"`
	Rest          float64        `json:"rest"`
	Summary       string         `json:"summary"`
	Grade         *GradeWhy      `json:"grade,omitempty"`
}

// GradeWhy decomposes the logit of the predicted grade.
type GradeWhy struct {
	Grade         string         `json:"grade"`
	Baseline      float64        `json:"baseline"`
	Contributions []Contribution `json:"contributions"`
	Rest          float64        `json:"rest"`
}

// Contribution is one feature's share of a prediction.
type Contribution struct {
	Feature      string  `json:"feature"`
	Label        string  `json:"label"`
	Value        float64 `json:"value"`
	Standardised float64 `json:"standardised"`
	Contribution float64 `json:"contribution"`
	Text         string  `json:"text"`
}

// Predict scores one full feature vector (features.Names order) of a sample of device.
func (m *Model) Predict(device string, full []float64) (Prediction, error) {
	if m.index == nil {
		if err := m.Validate(); err != nil {
			return Prediction{}, err
		}
	}
	z := make([]float64, len(m.Features))
	if err := m.standardise(full, z); err != nil {
		return Prediction{}, fmt.Errorf("predict with %s %s: %w", m.Name, m.Version, err)
	}
	p := Prediction{Probabilities: make(map[string]float64, len(Grades))}
	contrib := make([]float64, len(z))
	raw := m.Score.Bias
	for i, w := range m.Score.W {
		contrib[i] = w * z[i]
		raw += contrib[i]
	}
	p.RawScore = raw
	p.Score = math.Min(1, math.Max(0, raw))
	p.Explanation = Explanation{Method: "additive", Baseline: m.Score.Bias}
	p.Explanation.Contributions, p.Explanation.Rest = m.top(full, z, contrib, "score")

	if m.Grade != nil {
		logits := make([]float64, len(Grades))
		m.Grade.logits(z, logits)
		probs := softmaxInPlace(slicesClone(logits))
		best := argmax(probs)
		for c, g := range Grades {
			p.Probabilities[g] = probs[c]
		}
		p.Grade, p.Confidence = Grades[best], probs[best]
		gc := make([]float64, len(z))
		for i, w := range m.Grade.W[best] {
			gc[i] = w * z[i]
		}
		why := &GradeWhy{Grade: Grades[best], Baseline: m.Grade.B[best]}
		why.Contributions, why.Rest = m.top(full, z, gc, "grade "+Grades[best])
		p.Explanation.Grade = why
	} else {
		p.Grade = gradeFromScore(p.Score, m.Thresholds)
		for _, g := range Grades {
			p.Probabilities[g] = 0
		}
		p.Probabilities[p.Grade] = 1
		p.Confidence = 1
	}
	p.Explanation.Summary = summary(p)
	if m.Anomaly != nil {
		a := m.Anomaly.score(device, z, m.Features)
		p.Anomaly = &a
	}
	return p, nil
}

func gradeFromScore(s float64, th []float64) string {
	for i, t := range th {
		if s >= t {
			return Grades[i]
		}
	}
	return Grades[len(Grades)-1]
}

// top returns the TopContributions largest contributions by magnitude (ties broken by
// feature order, so explanations are deterministic) and the sum of the others.
func (m *Model) top(full, z, contrib []float64, what string) ([]Contribution, float64) {
	order := make([]int, len(contrib))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return math.Abs(contrib[order[a]]) > math.Abs(contrib[order[b]]) })
	k := min(TopContributions, len(order))
	out := make([]Contribution, 0, k)
	for _, i := range order[:k] {
		name := m.Features[i]
		c := Contribution{Feature: name, Value: full[m.index[i]], Standardised: z[i], Contribution: contrib[i]}
		c.Label, c.Text = describe(name, c.Value, c.Contribution, what)
		out = append(out, c)
	}
	rest := 0.0
	for _, i := range order[k:] {
		rest += contrib[i]
	}
	return out, rest
}

// describe words one contribution for an operator, e.g.
// "indice d'oxydation = 0.62 : fait baisser le score de 0.084".
func describe(name string, value, contribution float64, what string) (label, text string) {
	l, ok := features.Labels[name]
	if !ok {
		l = features.Label{Text: name}
	}
	v := strconv.FormatFloat(value, 'f', 3, 64)
	if l.Unit != "" {
		v += " " + l.Unit
	}
	verb := "fait monter"
	if contribution < 0 {
		verb = "fait baisser"
	}
	return l.Text, fmt.Sprintf("%s = %s : %s le %s de %s", l.Text, v, verb, what,
		strconv.FormatFloat(math.Abs(contribution), 'f', 3, 64))
}

func summary(p Prediction) string {
	s := fmt.Sprintf("Grade %s (score %.2f)", p.Grade, p.Score)
	if len(p.Explanation.Contributions) > 0 {
		s += " ; principal facteur : " + p.Explanation.Contributions[0].Text
	}
	return s
}

func (s *Softmax) logits(z, dst []float64) {
	for c := range s.W {
		v := s.B[c]
		for i, w := range s.W[c] {
			v += w * z[i]
		}
		dst[c] = v
	}
}

// softmaxInPlace turns logits into probabilities (max-subtracted for stability).
func softmaxInPlace(x []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, v)
	}
	sum := 0.0
	for i, v := range x {
		x[i] = math.Exp(v - mx)
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
	return x
}

func argmax(x []float64) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}

func slicesClone(x []float64) []float64 { return append([]float64(nil), x...) }

func labelOf(name string) (string, bool) {
	l, ok := features.Labels[name]
	return l.Text, ok
}
