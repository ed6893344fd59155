package ml

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/sqalfn/sqal/shared/features"
)

// Dataset is a set of labelled samples: full feature vectors (features.Names order,
// flattened row-major), the grade class and score to learn, and who measured them.
type Dataset struct {
	X        []float64
	Grade    []int
	Score    []float64
	Device   []string
	SampleID []string
}

// Len is the number of samples.
func (d *Dataset) Len() int { return len(d.Grade) }

// Add appends one sample. grade must be one of Grades.
func (d *Dataset) Add(sampleID, device string, x []float64, grade string, score float64) error {
	if len(x) != features.Len() {
		return fmt.Errorf("add sample %s: %w", sampleID, ErrFeatureVector)
	}
	c := GradeIndex(grade)
	if c < 0 {
		return fmt.Errorf("add sample %s: unknown grade %q", sampleID, grade)
	}
	d.X = append(d.X, x...)
	d.Grade = append(d.Grade, c)
	d.Score = append(d.Score, score)
	d.Device = append(d.Device, device)
	d.SampleID = append(d.SampleID, sampleID)
	return nil
}

func (d *Dataset) row(i int) []float64 { n := features.Len(); return d.X[i*n : (i+1)*n] }

// Hash identifies the exact training data (sample ids, labels and feature values, in
// order), so two models can be said to have been trained on the same set.
func (d *Dataset) Hash() string {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte(features.Version))
	for i := 0; i < d.Len(); i++ {
		h.Write([]byte(d.SampleID[i]))
		h.Write([]byte{0, byte(d.Grade[i])})
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(d.Score[i]))
		h.Write(b[:])
		for _, v := range d.row(i) {
			binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Split divides d into a training and a held-out set. A sample's side depends only on
// its id (a hash), so the same sample is held out in every run and two models trained at
// different times can be compared on the same held-out data.
func (d *Dataset) Split(holdOut float64) (train, test Dataset) {
	cut := uint64(holdOut * float64(math.MaxUint32))
	for i := 0; i < d.Len(); i++ {
		h := fnv.New32a()
		h.Write([]byte(d.SampleID[i]))
		dst := &train
		if uint64(h.Sum32()) < cut {
			dst = &test
		}
		dst.X = append(dst.X, d.row(i)...)
		dst.Grade = append(dst.Grade, d.Grade[i])
		dst.Score = append(dst.Score, d.Score[i])
		dst.Device = append(dst.Device, d.Device[i])
		dst.SampleID = append(dst.SampleID, d.SampleID[i])
	}
	return train, test
}

// TrainConfig tunes a training run. Zero values take the defaults of withDefaults.
type TrainConfig struct {
	Type         string  `json:"model_type"`
	Epochs       int     `json:"epochs"`
	BatchSize    int     `json:"batch_size"`
	LearningRate float64 `json:"learning_rate"`
	L2           float64 `json:"l2"`    // softmax weight decay
	Ridge        float64 `json:"ridge"` // ridge penalty of the score model (per sample)
	Seed         uint64  `json:"seed"`
	// NoHistograms drops the hist_ features: training then skips decoding the stored
	// frames (about 1 ms each), and so does every prediction of the model.
	NoHistograms bool `json:"no_histograms,omitempty"`
}

func (c TrainConfig) withDefaults() TrainConfig {
	if c.Type == "" {
		c.Type = TypeFusion
	}
	if c.Epochs <= 0 {
		c.Epochs = 10
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 32
	}
	if c.LearningRate <= 0 {
		c.LearningRate = 0.01
	}
	if c.L2 < 0 {
		c.L2 = 0
	} else if c.L2 == 0 {
		c.L2 = 1e-4
	}
	if c.Ridge <= 0 {
		c.Ridge = 1e-3
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// Progress receives training progress: epoch done out of total (0 before the first).
type Progress func(epoch, total int, loss float64)

// ErrTooFewSamples is returned when a dataset cannot support a training run.
var ErrTooFewSamples = errors.New("too few samples to train")

// MinSamples is the smallest training set accepted.
const MinSamples = 20

// Train fits a quality model on train. It is deterministic for a given dataset and
// config (seeded shuffling), and stops early when ctx ends.
func Train(ctx context.Context, train Dataset, cfg TrainConfig, progress Progress) (*Model, error) {
	cfg = cfg.withDefaults()
	if train.Len() < MinSamples {
		return nil, fmt.Errorf("%w: %d, need at least %d", ErrTooFewSamples, train.Len(), MinSamples)
	}
	names, err := FeaturesForType(cfg.Type)
	if err != nil {
		return nil, err
	}
	if cfg.NoHistograms {
		names = slices.DeleteFunc(names, func(n string) bool { return strings.HasPrefix(n, "hist_") })
	}
	m := &Model{Name: NameForType(cfg.Type), Type: cfg.Type, FeatureVersion: features.Version, Features: names}
	m.index = make([]int, len(names))
	for i, n := range names {
		m.index[i] = features.Index(n)
	}
	d, n := len(names), train.Len()
	m.Scaler = fitScaler(&train, m.index)
	z := make([]float64, n*d)
	for r := 0; r < n; r++ {
		if err := m.standardise(train.row(r), z[r*d:(r+1)*d]); err != nil {
			return nil, err
		}
	}
	if m.Score, err = fitRidge(z, d, train.Score, cfg.Ridge); err != nil {
		return nil, fmt.Errorf("fit score model: %w", err)
	}
	if m.Grade, err = fitSoftmax(ctx, z, d, train.Grade, cfg, progress); err != nil {
		return nil, fmt.Errorf("fit grade model: %w", err)
	}
	m.Anomaly = fitAnomaly(z, d, train.Device)
	return m, m.Validate()
}

func fitScaler(ds *Dataset, index []int) Scaler {
	d, n := len(index), ds.Len()
	s := Scaler{Mean: make([]float64, d), Scale: make([]float64, d)}
	for r := 0; r < n; r++ {
		row := ds.row(r)
		for i, j := range index {
			s.Mean[i] += row[j]
		}
	}
	for i := range s.Mean {
		s.Mean[i] /= float64(n)
	}
	for r := 0; r < n; r++ {
		row := ds.row(r)
		for i, j := range index {
			dv := row[j] - s.Mean[i]
			s.Scale[i] += dv * dv
		}
	}
	for i := range s.Scale {
		s.Scale[i] = math.Sqrt(s.Scale[i] / float64(n))
		if s.Scale[i] < 1e-9 {
			s.Scale[i] = 1 // constant feature: keep z = 0 instead of dividing by zero
		}
	}
	return s
}

// fitRidge solves (ZᵀZ + λnI) w = Zᵀ(y - ȳ); the intercept is ȳ because Z is centred
// on the training set, so the intercept is not penalised.
func fitRidge(z []float64, d int, y []float64, lambda float64) (Linear, error) {
	n := len(y)
	mean := 0.0
	for _, v := range y {
		mean += v
	}
	mean /= float64(n)
	Z := mat.NewDense(n, d, z)
	var a mat.SymDense
	a.SymOuterK(1, Z.T())
	for i := 0; i < d; i++ {
		a.SetSym(i, i, a.At(i, i)+lambda*float64(n))
	}
	yc := make([]float64, n)
	for i, v := range y {
		yc[i] = v - mean
	}
	var b mat.VecDense
	b.MulVec(Z.T(), mat.NewVecDense(n, yc))
	var ch mat.Cholesky
	if !ch.Factorize(&a) {
		return Linear{}, errors.New("normal equations are not positive definite")
	}
	var w mat.VecDense
	if err := ch.SolveVecTo(&w, &b); err != nil {
		return Linear{}, fmt.Errorf("solve normal equations: %w", err)
	}
	return Linear{W: append([]float64(nil), w.RawVector().Data...), Bias: mean}, nil
}

// fitSoftmax trains the grade model by mini-batch gradient descent with Adam, one pass
// over the shuffled training set per epoch (the epochs the dashboard shows).
func fitSoftmax(ctx context.Context, z []float64, d int, y []int, cfg TrainConfig, progress Progress) (*Softmax, error) {
	k, n := len(Grades), len(y)
	// Parameters live in one flat slice: k rows of d weights, then k biases.
	p := make([]float64, k*d+k)
	g := make([]float64, len(p))
	m1 := make([]float64, len(p))
	m2 := make([]float64, len(p))
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	// Start the biases at the log class frequencies: a fast, stable start.
	counts := make([]float64, k)
	for _, c := range y {
		counts[c]++
	}
	for c := 0; c < k; c++ {
		p[k*d+c] = math.Log((counts[c] + 1) / float64(n+k))
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5a41))
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	logit := make([]float64, k)
	step := 0
	if progress != nil {
		progress(0, cfg.Epochs, math.NaN())
	}
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("training stopped at epoch %d: %w", epoch, err)
		}
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		loss := 0.0
		for start := 0; start < n; start += cfg.BatchSize {
			end := min(start+cfg.BatchSize, n)
			clear(g)
			for _, r := range order[start:end] {
				row := z[r*d : (r+1)*d]
				for c := 0; c < k; c++ {
					v := p[k*d+c]
					w := p[c*d : (c+1)*d]
					for i, x := range row {
						v += w[i] * x
					}
					logit[c] = v
				}
				softmaxInPlace(logit)
				loss -= math.Log(math.Max(logit[y[r]], 1e-15))
				for c := 0; c < k; c++ {
					e := logit[c]
					if c == y[r] {
						e--
					}
					gw := g[c*d : (c+1)*d]
					for i, x := range row {
						gw[i] += e * x
					}
					g[k*d+c] += e
				}
			}
			step++
			inv := 1 / float64(end-start)
			c1 := 1 - math.Pow(beta1, float64(step))
			c2 := 1 - math.Pow(beta2, float64(step))
			for i := range p {
				gi := g[i] * inv
				if i < k*d {
					gi += cfg.L2 * p[i]
				}
				m1[i] = beta1*m1[i] + (1-beta1)*gi
				m2[i] = beta2*m2[i] + (1-beta2)*gi*gi
				p[i] -= cfg.LearningRate * (m1[i] / c1) / (math.Sqrt(m2[i]/c2) + eps)
			}
		}
		if !finite(loss) {
			return nil, fmt.Errorf("training diverged at epoch %d (learning rate %g too high?)", epoch, cfg.LearningRate)
		}
		if progress != nil {
			progress(epoch, cfg.Epochs, loss/float64(n))
		}
	}
	s := &Softmax{W: make([][]float64, k), B: append([]float64(nil), p[k*d:]...)}
	for c := 0; c < k; c++ {
		s.W[c] = append([]float64(nil), p[c*d:(c+1)*d]...)
	}
	return s, nil
}
