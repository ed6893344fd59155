package sqalapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/sqalread"
)

// Predictor scores one stored sample for POST /api/sqal/predict. The endpoint keeps its
// legacy shape whatever the implementation; it stores one predictions row per call.
//
// The ML step plugs a real model in through Options.Predictor. Until then MVPPredictor
// answers, exactly like the legacy MVP.
type Predictor interface {
	Predict(ctx context.Context, s *sqalread.SampleDict) (Prediction, error)
}

// Prediction is what a Predictor returns. Explanations must be a JSON object (or nil).
type Prediction struct {
	ModelName    string
	ModelVersion string
	Score        *float64
	Grade        *string
	Explanations json.RawMessage
}

// MVPPredictor is the documented fallback (contract §5.4 #6, "MVP, keep"): it is NOT a
// model. The "prediction" copies the sample's own fusion score and grade; the model
// named is the newest active ai_models row (by created_at; the model registry is
// shared by every organisation, no row-level security), else the built-in
// "sqal-mvp" version "0.1"; explanations say where the values came from.
type MVPPredictor struct {
	DB sqalread.Querier
}

// Predict implements Predictor.
func (p MVPPredictor) Predict(ctx context.Context, s *sqalread.SampleDict) (Prediction, error) {
	pr := Prediction{ModelName: "sqal-mvp", ModelVersion: "0.1"}
	err := p.DB.QueryRow(ctx, `SELECT name, version FROM ai_models WHERE is_active
ORDER BY created_at DESC NULLS LAST LIMIT 1`).Scan(&pr.ModelName, &pr.ModelVersion)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return pr, fmt.Errorf("pick active model: %w", err)
	}
	score, grade := s.FusionFinalScore, s.FusionFinalGrade
	pr.Score, pr.Grade = &score, &grade
	pr.Explanations, err = json.Marshal(map[string]any{
		"source": "sensor_samples",
		"fields": map[string]any{"fusion_final_score": score, "fusion_final_grade": grade},
	})
	if err != nil {
		return pr, fmt.Errorf("encode explanations: %w", err)
	}
	return pr, nil
}

type predictResponse struct {
	PredictionID string          `json:"prediction_id"`
	SampleID     string          `json:"sample_id"`
	DeviceID     string          `json:"device_id"`
	ModelName    string          `json:"model_name"`
	ModelVersion string          `json:"model_version"`
	Score        *float64        `json:"score"`
	Grade        *string         `json:"grade"`
	PredictedAt  stamp           `json:"predicted_at"`
	Explanations json.RawMessage `json:"explanations"`
}

// predict is #6 POST /api/sqal/predict?sample_id=...: the legacy MVP stored one row per
// call; the ML registry keeps one per (sample, model version), so a repeated call
// answers the stored prediction. The sample is read in the request's organisation
// scope: another organisation's sample is a 404 and gets no prediction.
func (a *API) predict(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	sampleID := p.Query("sample_id").RequiredString()
	if !p.Check(w) {
		return
	}
	ctx := r.Context()
	s, err := sqalread.SampleByID(ctx, a.db, sampleID)
	if errors.Is(err, sqalread.ErrNoSample) {
		httpapi.Detail(w, http.StatusNotFound, "Sample not found: "+sampleID)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	pr, err := a.predictor.Predict(ctx, s)
	if err != nil {
		a.fail(w, r, fmt.Errorf("predict sample %s: %w", sampleID, err))
		return
	}
	resp := predictResponse{SampleID: s.SampleID, DeviceID: s.DeviceID, ModelName: pr.ModelName,
		ModelVersion: pr.ModelVersion, Score: pr.Score, Grade: pr.Grade, PredictedAt: stamp(a.now()),
		Explanations: pr.Explanations}
	// One prediction per (sample, model, version) (unique index of the ML registry,
	// migration 00020): a repeated call returns the stored prediction and its time.
	var predictedAt time.Time
	// The prediction belongs to its sample's organisation (the scope's own, unless a
	// super_admin asks across organisations).
	err = a.db.QueryRow(ctx, `INSERT INTO predictions (sample_id, device_id, predicted_at, model_name, model_version, score, grade, explanations, organization_id)
VALUES ($1::text, $2, $3, $4, $5, $6, $7, $8,
  COALESCE((SELECT organization_id FROM sensor_samples WHERE sample_id = $1::text), sqal_row_organization()))
ON CONFLICT (sample_id, model_name, model_version) DO UPDATE SET sample_id = EXCLUDED.sample_id
RETURNING id::text, predicted_at`,
		resp.SampleID, resp.DeviceID, a.now(), resp.ModelName, resp.ModelVersion, resp.Score, resp.Grade,
		nullJSON(resp.Explanations)).Scan(&resp.PredictionID, &predictedAt)
	resp.PredictedAt = stamp(predictedAt)
	if err != nil {
		a.fail(w, r, fmt.Errorf("store prediction for %s: %w", sampleID, err))
		return
	}
	httpapi.JSON(w, http.StatusOK, resp)
}
