package ml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/tenant"
)

// Service predicts with the active models: it caches each active model in memory,
// refreshes it on activation events and, because Knative delivers an event to one pod
// only, also re-checks the registry at most every TTL. A version whose artefact cannot
// be loaded is refused and the model already in memory keeps serving.
type Service struct {
	Registry *Registry
	Logger   *slog.Logger
	TTL      time.Duration // how stale the cached active version may be (default 30 s)
	// Source is the CloudEvents source of sqal.prediction.created (SourcePredict, ...).
	Source string

	mu    sync.Mutex
	cache map[string]*cached
}

type cached struct {
	model     *Model
	id        string // registry id ("" for the fallback baseline)
	checkedAt time.Time
	loadedAt  time.Time
	loadErr   error // last refused version, for readiness and logs
}

// Served describes the model a name is served by.
type Served struct {
	Model    *Model
	ID       string
	LoadedAt time.Time
	Err      error // last refused refresh, if any
}

func (s *Service) ttl() time.Duration {
	if s.TTL <= 0 {
		return 30 * time.Second
	}
	return s.TTL
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Model returns the model that serves name, refreshing it from the registry when the
// cache is older than TTL.
func (s *Service) Model(ctx context.Context, name string) (Served, error) {
	s.mu.Lock()
	c := s.cache[name]
	fresh := c != nil && time.Since(c.checkedAt) < s.ttl()
	s.mu.Unlock()
	if !fresh {
		if err := s.Refresh(ctx, name); err != nil && c == nil {
			return Served{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c = s.cache[name]
	if c == nil {
		return Served{}, fmt.Errorf("model %s: not loaded", name)
	}
	return Served{Model: c.model, ID: c.id, LoadedAt: c.loadedAt, Err: c.loadErr}, nil
}

// Refresh re-reads the active version of name. When none is active, the built-in
// baseline serves. When the active version cannot be loaded, the error is returned and
// logged, and the model in memory (if any) keeps serving.
func (s *Service) Refresh(ctx context.Context, name string) error {
	rec, err := s.Registry.Active(ctx, nil, name)
	now := time.Now()
	switch {
	case errors.Is(err, ErrNoActive):
		m := Baseline()
		m.Name = name
		s.store(name, &cached{model: m, checkedAt: now, loadedAt: now})
		return nil
	case err != nil:
		s.touch(name, err)
		return fmt.Errorf("refresh model %s: %w", name, err)
	}
	s.mu.Lock()
	c := s.cache[name]
	s.mu.Unlock()
	if c != nil && c.id == rec.ID {
		s.touch(name, nil)
		return nil
	}
	m, err := s.Registry.Load(ctx, rec)
	if err != nil {
		s.logger().ErrorContext(ctx, "refusing model version, keeping the one in memory",
			"model", name, "version", rec.Version, "id", rec.ID, "err", err)
		if c == nil && (errors.Is(err, ErrCorruptArtefact) || errors.Is(err, ErrNoArtefact)) {
			// Nothing in memory yet (a fresh pod): the built-in rules model serves rather
			// than no model at all, and the refusal stays visible (Served.Err).
			b := Baseline()
			b.Name = name
			s.store(name, &cached{model: b, checkedAt: now, loadedAt: now, loadErr: err})
		} else {
			s.touch(name, err)
		}
		return fmt.Errorf("refresh model %s: %w", name, err)
	}
	s.store(name, &cached{model: m, id: rec.ID, checkedAt: now, loadedAt: now})
	s.logger().InfoContext(ctx, "serving model", "model", name, "version", m.Version, "id", rec.ID)
	return nil
}

func (s *Service) store(name string, c *cached) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = map[string]*cached{}
	}
	s.cache[name] = c
}

// touch records a check without a model change; a failed check keeps the old model.
func (s *Service) touch(name string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cache[name]; c != nil {
		c.checkedAt, c.loadErr = time.Now(), err
	}
}

// Stored is a stored prediction, as the APIs return it.
type Stored struct {
	PredictionEvent
	InferenceTimeMS float64 `json:"inference_time_ms"`
	FeatureVersion  string  `json:"feature_version"`
	Source          string  `json:"source"`
	// Created is false when the prediction already existed (a repeated event or call).
	Created bool `json:"-"`
}

// StoredExplanation is what predictions.explanations holds.
type StoredExplanation struct {
	Explanation
	Model   string         `json:"model"`
	Anomaly *AnomalyResult `json:"anomaly,omitempty"`
}

// PredictSample scores a stored sample with the model serving name and stores the
// prediction once per (sample, model, version), in one transaction with its
// sqal.prediction.created event. A repeated call returns the stored prediction with
// Created false and emits nothing. source says who asked ("event", "api", "legacy").
func (s *Service) PredictSample(ctx context.Context, name, sampleID, source string) (Stored, error) {
	return s.PredictSampleAt(ctx, name, sampleID, source, "")
}

// PredictSampleAt is PredictSample for a sample whose site is known (from the
// sqal.sample.stored event): the site goes on the prediction event as the sqalsite
// extension, so realtime and Triggers can filter by site without a lookup.
func (s *Service) PredictSampleAt(ctx context.Context, name, sampleID, source, site string) (Stored, error) {
	served, err := s.Model(ctx, name)
	if err != nil {
		return Stored{}, err
	}
	return s.predict(ctx, served, sampleID, source, site)
}

// PredictWith is PredictSample with an explicit model (POST /api/ai/predict/ names one).
func (s *Service) PredictWith(ctx context.Context, served Served, sampleID, source string) (Stored, error) {
	return s.predict(ctx, served, sampleID, source, "")
}

func (s *Service) predict(ctx context.Context, served Served, sampleID, source, site string) (Stored, error) {
	m := served.Model
	start := time.Now()
	loader := features.Loader{Histograms: m.UsesHistogram()}
	smp, err := loader.Load(ctx, s.Registry.DB, sampleID)
	if err != nil {
		return Stored{}, err
	}
	x, err := features.Extract(smp.Sample)
	if err != nil {
		return Stored{}, fmt.Errorf("sample %s: %w", sampleID, err)
	}
	p, err := m.Predict(smp.DeviceID, x)
	if err != nil {
		return Stored{}, err
	}
	elapsed := float64(time.Since(start).Microseconds()) / 1000
	out := Stored{PredictionEvent: PredictionEvent{SampleID: sampleID, DeviceID: smp.DeviceID, ModelID: served.ID,
		ModelName: m.Name, ModelVersion: m.Version, Score: p.Score, Grade: p.Grade, Confidence: p.Confidence,
		Probabilities: p.Probabilities, Explanation: p.Explanation, Anomaly: p.Anomaly},
		InferenceTimeMS: elapsed, FeatureVersion: m.FeatureVersion, Source: source}
	expl, err := json.Marshal(StoredExplanation{Explanation: p.Explanation, Model: m.Name + " v" + m.Version, Anomaly: p.Anomaly})
	if err != nil {
		return Stored{}, fmt.Errorf("encode explanation: %w", err)
	}
	probs, _ := json.Marshal(p.Probabilities)
	var anomalyScore *float64
	var isAnomaly *bool
	if p.Anomaly != nil {
		anomalyScore, isAnomaly = &p.Anomaly.Distance, &p.Anomaly.IsAnomaly
	}
	var modelID *string
	if served.ID != "" {
		modelID = &served.ID
	}
	// The prediction belongs to the sample's organisation, named explicitly rather than
	// left to the column default (the transaction's organisation): under the
	// cross-organisation scope (super_admin) the default would be the default
	// organisation. The sample was just read in this scope, so it is visible here too.
	var org string
	err = pgx.BeginFunc(ctx, s.Registry.DB, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO predictions (sample_id, device_id, model_name, model_version, score,
				grade, explanations, model_id, predicted_class, confidence, probabilities, inference_time_ms,
				anomaly_score, is_anomaly, feature_version, source, organization_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $6, $9, $10, $11, $12, $13, $14, $15,
				(SELECT organization_id FROM sensor_samples WHERE sample_id = $16))
			ON CONFLICT (sample_id, model_name, model_version) DO NOTHING
			RETURNING id::text, predicted_at, organization_id::text`,
			sampleID, smp.DeviceID, m.Name, m.Version, p.Score, p.Grade, expl, modelID, p.Confidence, probs,
			elapsed, anomalyScore, isAnomaly, m.FeatureVersion, source, sampleID).Scan(&out.PredictionID, &out.PredictedAt, &org)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // already predicted: read it back below
		}
		if err != nil {
			return fmt.Errorf("store prediction of %s: %w", sampleID, err)
		}
		out.Created = true
		return s.emit(ctx, tx, out.PredictionEvent, site, org)
	})
	if err != nil {
		return Stored{}, err
	}
	if !out.Created {
		existing, err := GetPrediction(ctx, s.Registry.DB, sampleID, m.Name, m.Version)
		if err != nil {
			return Stored{}, err
		}
		return existing, nil
	}
	return out, nil
}

// Extension attributes of sqal.prediction.created (the same names as alert events').
const (
	ExtDevice = "sqaldevice"
	ExtSite   = "sqalsite"
)

// emit queues sqal.prediction.created; org (the prediction's organisation) goes on the
// event as the organizationid extension whatever the scope of ctx, so consumers act
// for the sample's organisation even when a super administrator asked.
func (s *Service) emit(ctx context.Context, tx pgx.Tx, p PredictionEvent, site, org string) error {
	if s.Registry.Outbox == nil {
		return nil
	}
	e := cloudevents.NewEvent()
	if org != "" {
		e.SetExtension(tenant.EventExtension, org)
	}
	e.SetID(PredictionEventID(p.SampleID, p.ModelName, p.ModelVersion))
	e.SetType(TypePredictionCreated)
	e.SetSource(s.Source)
	e.SetSubject(p.SampleID)
	e.SetTime(p.PredictedAt)
	e.SetExtension(ExtDevice, p.DeviceID)
	if site != "" {
		e.SetExtension(ExtSite, site)
	}
	if err := e.SetData(cloudevents.ApplicationJSON, p); err != nil {
		return fmt.Errorf("encode prediction event: %w", err)
	}
	if err := s.Registry.Outbox(ctx, tx, e); err != nil {
		return fmt.Errorf("queue prediction event of %s: %w", p.SampleID, err)
	}
	return nil
}

const predictionColumns = `id::text, sample_id, device_id, COALESCE(model_id::text, ''), model_name, model_version,
	COALESCE(score, 0), COALESCE(grade, ''), COALESCE(confidence, 0), COALESCE(probabilities, '{}'),
	COALESCE(explanations, '{}'), COALESCE(predicted_at, created_at), COALESCE(inference_time_ms, 0),
	COALESCE(feature_version, ''), COALESCE(source, '')`

func scanPrediction(row pgx.Row) (Stored, error) {
	var s Stored
	var probs, expl []byte
	if err := row.Scan(&s.PredictionID, &s.SampleID, &s.DeviceID, &s.ModelID, &s.ModelName, &s.ModelVersion,
		&s.Score, &s.Grade, &s.Confidence, &probs, &expl, &s.PredictedAt, &s.InferenceTimeMS,
		&s.FeatureVersion, &s.Source); err != nil {
		return Stored{}, err
	}
	// Rows written by legacy code hold other shapes: keep what decodes.
	_ = json.Unmarshal(probs, &s.Probabilities)
	var se StoredExplanation
	if json.Unmarshal(expl, &se) == nil {
		s.Explanation, s.Anomaly = se.Explanation, se.Anomaly
	}
	return s, nil
}

// ErrPredictionNotFound is returned for an unknown prediction.
var ErrPredictionNotFound = errors.New("prediction not found")

// GetPrediction reads the prediction of a sample by a model version.
func GetPrediction(ctx context.Context, q Querier, sampleID, model, version string) (Stored, error) {
	s, err := scanPrediction(q.QueryRow(ctx, `SELECT `+predictionColumns+` FROM predictions
		WHERE sample_id = $1 AND model_name = $2 AND model_version = $3`, sampleID, model, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return Stored{}, fmt.Errorf("prediction of %s by %s %s: %w", sampleID, model, version, ErrPredictionNotFound)
	}
	if err != nil {
		return Stored{}, fmt.Errorf("read prediction of %s: %w", sampleID, err)
	}
	return s, nil
}

// PredictionFilter selects predictions for ListPredictions.
type PredictionFilter struct {
	SampleID, DeviceID, ModelName string
	Skip, Limit                   int
}

// ListPredictions returns predictions newest first and the number matching the filter.
func ListPredictions(ctx context.Context, q Querier, f PredictionFilter) ([]Stored, int, error) {
	where := `WHERE ($1 = '' OR sample_id = $1) AND ($2 = '' OR device_id = $2) AND ($3 = '' OR model_name = $3)`
	var total int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM predictions `+where, f.SampleID, f.DeviceID, f.ModelName).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count predictions: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT `+predictionColumns+` FROM predictions `+where+`
		ORDER BY COALESCE(predicted_at, created_at) DESC, id OFFSET $4 LIMIT $5`,
		f.SampleID, f.DeviceID, f.ModelName, f.Skip, f.Limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list predictions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stored, error) { return scanPrediction(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("list predictions: %w", err)
	}
	return out, total, nil
}
