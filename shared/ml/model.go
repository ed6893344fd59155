// Package ml holds the SQAL quality models: training in Go on stored samples, additive
// explanations, a per-device anomaly detector, artefact serialisation with a checksum, and
// the model registry over PostgreSQL (ai_models) with its artefact Store.
//
// The quality model is deliberately additive on standardised features: a ridge regression
// gives the score and a multinomial logistic regression (softmax) the grade, so every
// prediction's explanation is exact: baseline + Σ weight × standardised feature = score
// (and the same for the logit of the predicted grade). An operator can read why a tray
// got its grade without a post-hoc approximation.
package ml

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/sqalfn/sqal/shared/features"
)

// Model names and types.
const (
	// QualityModel is the registry name of the quality model (grade + score).
	QualityModel = "sqal-quality"
	// Framework is written to ai_models.framework for models trained here.
	Framework = "sqal-go"

	// Model types (ai_models.model_type; the dashboard's training choices). The type
	// selects the feature groups a model is trained on.
	TypeFusion   = "fusion_ensemble" // every feature
	TypeToF      = "vl53l8ch_cnn"    // time-of-flight features only
	TypeSpectral = "as7341_cnn"      // spectral features only
	TypeRules    = "rules"           // the built-in v0 model (no training)
)

// Grades in quality order (index = class of the grade model).
var Grades = []string{"A+", "A", "B", "C", "REJECT"}

// GradeIndex returns the class of a normalised grade, or -1.
func GradeIndex(g string) int { return slices.Index(Grades, g) }

// ModelTypes lists the trainable types.
var ModelTypes = []string{TypeFusion, TypeToF, TypeSpectral}

// NameForType is the registry name of the quality model trained on a type's features: the
// fusion model is the one predict serves by default; sensor-only models are side models
// an operator can compare.
func NameForType(t string) string {
	switch t {
	case TypeToF:
		return QualityModel + "-tof"
	case TypeSpectral:
		return QualityModel + "-spectral"
	default:
		return QualityModel
	}
}

// FeaturesForType lists the features a model type uses.
func FeaturesForType(t string) ([]string, error) {
	var prefixes []string
	switch t {
	case TypeFusion:
		return slices.Clone(features.Names), nil
	case TypeToF:
		prefixes = []string{"tof_", "hist_"}
	case TypeSpectral:
		prefixes = []string{"spec_"}
	default:
		return nil, fmt.Errorf("unknown model type %q (want one of %v)", t, ModelTypes)
	}
	var out []string
	for _, n := range features.Names {
		for _, p := range prefixes {
			if len(n) >= len(p) && n[:len(p)] == p {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// Scaler standardises features: z = (x - Mean) / Scale.
type Scaler struct {
	Mean  []float64 `json:"mean"`
	Scale []float64 `json:"scale"`
}

// Linear is an additive model on standardised features: y = Bias + Σ W[i] z[i].
type Linear struct {
	W    []float64 `json:"w"`
	Bias float64   `json:"bias"`
}

// Softmax is a multinomial logistic regression: logit[c] = B[c] + Σ W[c][i] z[i].
type Softmax struct {
	W [][]float64 `json:"w"`
	B []float64   `json:"b"`
}

// Model is one trained (or built-in) quality model.
type Model struct {
	Name           string   `json:"name"`
	Version        string   `json:"version"`
	Type           string   `json:"type"`
	FeatureVersion string   `json:"feature_version"`
	Features       []string `json:"features"`
	Scaler         Scaler   `json:"scaler"`
	Score          Linear   `json:"score"`
	// Grade is nil for the rules model, whose grade comes from score Thresholds.
	Grade *Softmax `json:"grade,omitempty"`
	// Thresholds are the lower score bounds of A+, A, B and C (rules model only).
	Thresholds []float64 `json:"thresholds,omitempty"`
	Anomaly    *Anomaly  `json:"anomaly,omitempty"`

	index []int // position of each of Features in a features.Names vector
}

// Validate checks the internal consistency of m (dimensions, finite numbers, a known
// feature set) and prepares it for prediction. Every model read from outside goes
// through it, so a prediction never indexes out of range.
func (m *Model) Validate() error {
	if m.FeatureVersion != features.Version {
		return fmt.Errorf("model %s %s: feature set %q, this build computes %q", m.Name, m.Version, m.FeatureVersion, features.Version)
	}
	d := len(m.Features)
	if d == 0 {
		return fmt.Errorf("model %s %s: no features", m.Name, m.Version)
	}
	m.index = make([]int, d)
	for i, n := range m.Features {
		if m.index[i] = features.Index(n); m.index[i] < 0 {
			return fmt.Errorf("model %s %s: unknown feature %q", m.Name, m.Version, n)
		}
	}
	if len(m.Scaler.Mean) != d || len(m.Scaler.Scale) != d || len(m.Score.W) != d {
		return fmt.Errorf("model %s %s: scaler/score sizes do not match %d features", m.Name, m.Version, d)
	}
	if !allFinite(m.Scaler.Mean) || !allFinite(m.Scaler.Scale) || !allFinite(m.Score.W) || !finite(m.Score.Bias) {
		return fmt.Errorf("model %s %s: non-finite parameters", m.Name, m.Version)
	}
	for _, s := range m.Scaler.Scale {
		if s <= 0 {
			return fmt.Errorf("model %s %s: non-positive scale", m.Name, m.Version)
		}
	}
	switch {
	case m.Grade != nil:
		if len(m.Grade.W) != len(Grades) || len(m.Grade.B) != len(Grades) || !allFinite(m.Grade.B) {
			return fmt.Errorf("model %s %s: grade model must have %d finite classes", m.Name, m.Version, len(Grades))
		}
		for _, w := range m.Grade.W {
			if len(w) != d || !allFinite(w) {
				return fmt.Errorf("model %s %s: grade weights do not match %d features", m.Name, m.Version, d)
			}
		}
	case len(m.Thresholds) != len(Grades)-1 || !allFinite(m.Thresholds):
		return fmt.Errorf("model %s %s: needs a grade model or %d thresholds", m.Name, m.Version, len(Grades)-1)
	}
	if m.Anomaly != nil {
		if err := m.Anomaly.validate(d); err != nil {
			return fmt.Errorf("model %s %s: %w", m.Name, m.Version, err)
		}
	}
	return nil
}

// ErrFeatureVector is returned for a feature vector of the wrong length.
var ErrFeatureVector = errors.New("feature vector has the wrong length")

// standardise picks the model's features out of a full features.Names vector and
// standardises them into z.
func (m *Model) standardise(full []float64, z []float64) error {
	if len(full) != features.Len() {
		return fmt.Errorf("%w: %d values, want %d (%s)", ErrFeatureVector, len(full), features.Len(), features.Version)
	}
	for i, j := range m.index {
		z[i] = (full[j] - m.Scaler.Mean[i]) / m.Scaler.Scale[i]
	}
	return nil
}

// ParametersCount is the number of fitted numbers (for the registry).
func (m *Model) ParametersCount() int {
	n := 2*len(m.Features) + len(m.Score.W) + 1
	if m.Grade != nil {
		n += len(Grades) * (len(m.Features) + 1)
	}
	return n
}

// Architecture describes the model in one line (ai_models.architecture).
func (m *Model) Architecture() string {
	if m.Grade == nil {
		return fmt.Sprintf("règles additives sur %d variables (score), seuils de grade", len(m.Features))
	}
	a := fmt.Sprintf("softmax %d classes + ridge sur %d variables standardisées", len(Grades), len(m.Features))
	if m.Anomaly != nil {
		a += fmt.Sprintf(", détecteur d'anomalie par appareil (%d appareils)", len(m.Anomaly.Devices))
	}
	return a
}

// Baseline is the built-in, deterministic "v0" model registered by migration: the
// legacy fusion rule (60 % ToF score + 40 % spectral score) written as an additive model,
// with grade thresholds. It lets every sample be enriched before any training ran.
func Baseline() *Model {
	names := []string{"fusion_tof_score", "fusion_spectral_score"}
	m := &Model{
		Name: QualityModel, Version: "0", Type: TypeRules, FeatureVersion: features.Version,
		Features: names,
		// Mean 0.5 and scale 1 keep the additive reading simple: each contribution is
		// weight × (value - 0.5), and the baseline is the score of an average tray.
		Scaler:     Scaler{Mean: []float64{0.5, 0.5}, Scale: []float64{1, 1}},
		Score:      Linear{W: []float64{0.6, 0.4}, Bias: 0.5},
		Thresholds: []float64{0.85, 0.75, 0.60, 0.40},
	}
	if err := m.Validate(); err != nil {
		panic(err)
	}
	return m
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func allFinite(x []float64) bool {
	for _, v := range x {
		if !finite(v) {
			return false
		}
	}
	return true
}

// UsesHistogram reports whether the model reads hist_ features (then the histogram must
// be decoded from the stored frame before predicting).
func (m *Model) UsesHistogram() bool {
	for _, n := range m.Features {
		if len(n) > 5 && n[:5] == "hist_" {
			return true
		}
	}
	return false
}
