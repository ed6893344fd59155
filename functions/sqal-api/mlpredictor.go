package sqalapi

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/sqalread"
)

// MLPredictor backs POST /api/sqal/predict with the active quality model of the registry
// (shared/ml; added by the ML step). The prediction, its explanation and its
// sqal.prediction.created event are stored by ml.Service, once per sample and model
// version; the handler's own insert then meets the same row (ON CONFLICT) and returns it.
type MLPredictor struct {
	ML ml.LegacyPredictor
}

// NewMLPredictor returns a Predictor over the registry in db. The registry tables are
// shared by every organisation; the sample and the prediction are read and written in
// the organisation scope of the request's context.
func NewMLPredictor(db *database.DB, logger *slog.Logger) MLPredictor {
	reg := &ml.Registry{DB: db, Store: ml.PGStore{DB: db}, Outbox: events.AddToOutbox, Source: ml.SourceSQALAPI}
	return MLPredictor{ML: ml.LegacyPredictor{Service: &ml.Service{Registry: reg, Logger: logger,
		TTL: 30 * time.Second, Source: ml.SourceSQALAPI}}}
}

// Predict implements Predictor.
func (p MLPredictor) Predict(ctx context.Context, s *sqalread.SampleDict) (Prediction, error) {
	lp, err := p.ML.Predict(ctx, s.SampleID)
	if err != nil {
		return Prediction{}, fmt.Errorf("ml prediction: %w", err)
	}
	return Prediction{ModelName: lp.ModelName, ModelVersion: lp.ModelVersion, Score: &lp.Score, Grade: &lp.Grade,
		Explanations: lp.Explanations}, nil
}
