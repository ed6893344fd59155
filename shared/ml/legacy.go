package ml

import (
	"context"
	"encoding/json"

	"github.com/sqalfn/sqal/shared/httpapi"
)

// LegacyPrediction is the response of POST /api/sqal/predict (sqal-contract §5.4 #6).
type LegacyPrediction struct {
	PredictionID string            `json:"prediction_id"`
	SampleID     string            `json:"sample_id"`
	DeviceID     string            `json:"device_id"`
	ModelName    string            `json:"model_name"`
	ModelVersion string            `json:"model_version"`
	Score        float64           `json:"score"`
	Grade        string            `json:"grade"`
	PredictedAt  httpapi.Timestamp `json:"predicted_at"`
	Explanations json.RawMessage   `json:"explanations"`
}

// LegacyPredictor backs POST /api/sqal/predict with the active quality model, for the
// sqal-api function. Unlike the legacy MVP, which inserted a row per call, a repeated
// call for the same sample and model version returns the stored prediction (one
// prediction per sample and version, enforced by the database).
type LegacyPredictor struct {
	Service *Service
	Model   string // default QualityModel
}

// Predict scores a stored sample. An unknown sample gives an error wrapping
// features.ErrSampleNotFound (the API answers 404 "Sample not found: <id>").
func (p LegacyPredictor) Predict(ctx context.Context, sampleID string) (LegacyPrediction, error) {
	name := p.Model
	if name == "" {
		name = QualityModel
	}
	s, err := p.Service.PredictSample(ctx, name, sampleID, "legacy")
	if err != nil {
		return LegacyPrediction{}, err
	}
	expl, err := json.Marshal(map[string]any{
		"source":        "model",
		"model":         s.ModelName + " v" + s.ModelVersion,
		"summary":       s.Explanation.Summary,
		"baseline":      s.Explanation.Baseline,
		"contributions": s.Explanation.Contributions,
		"rest":          s.Explanation.Rest,
		"probabilities": s.Probabilities,
		"anomaly":       s.Anomaly,
	})
	if err != nil {
		return LegacyPrediction{}, err
	}
	return LegacyPrediction{PredictionID: s.PredictionID, SampleID: s.SampleID, DeviceID: s.DeviceID,
		ModelName: s.ModelName, ModelVersion: s.ModelVersion, Score: s.Score, Grade: s.Grade,
		PredictedAt: httpapi.Timestamp(s.PredictedAt), Explanations: expl}, nil
}
