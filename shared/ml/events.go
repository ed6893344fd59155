package ml

import (
	"encoding/json"
	"time"
)

// CloudEvent types of the ML steps.
const (
	// TypeTrainingRequested asks the train function to run a job (data TrainingRequested,
	// id = job id). Emitted through the outbox by POST /api/ai/training/.
	TypeTrainingRequested = "sqal.training.requested"
	// TypeModelTrained announces a new candidate version (data ModelEvent, id = model id).
	TypeModelTrained = "sqal.model.trained"
	// TypeModelActivated announces a change of the active version of a model name (data
	// ModelEvent, id = "<model id>:activated:<activation time in ns>"); predict refreshes
	// its cached model on it.
	TypeModelActivated = "sqal.model.activated"
	// TypePredictionCreated announces a stored prediction (data PredictionEvent,
	// id = "<sample_id>:<model>:<version>").
	TypePredictionCreated = "sqal.prediction.created"

	SourceAIAPI   = "/sqal/ai-api"
	SourceTrain   = "/sqal/train"
	SourcePredict = "/sqal/predict"
	SourceSQALAPI = "/sqal/sqal-api"
)

// TrainingRequested is the data of TypeTrainingRequested.
type TrainingRequested struct {
	JobID string `json:"job_id"`
}

// ModelEvent is the data of TypeModelTrained and TypeModelActivated.
type ModelEvent struct {
	ModelID    string          `json:"model_id"`
	Name       string          `json:"name"`
	Version    string          `json:"version"`
	Status     string          `json:"status"`
	JobID      *string         `json:"job_id,omitempty"`
	PreviousID *string         `json:"previous_model_id,omitempty"`
	Metrics    json.RawMessage `json:"metrics,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	Time       time.Time       `json:"time"`
}

// PredictionEvent is the data of TypePredictionCreated: what realtime puts next to the
// sample on /ws/realtime/ and what any consumer needs without reading the row.
type PredictionEvent struct {
	PredictionID  string             `json:"prediction_id"`
	SampleID      string             `json:"sample_id"`
	DeviceID      string             `json:"device_id"`
	ModelID       string             `json:"model_id,omitempty"`
	ModelName     string             `json:"model_name"`
	ModelVersion  string             `json:"model_version"`
	Score         float64            `json:"score"`
	Grade         string             `json:"grade"`
	Confidence    float64            `json:"confidence"`
	Probabilities map[string]float64 `json:"probabilities"`
	Explanation   Explanation        `json:"explanations"`
	Anomaly       *AnomalyResult     `json:"anomaly,omitempty"`
	PredictedAt   time.Time          `json:"predicted_at"`
}

// PredictionEventID is the stable id of the prediction of a sample by a model version.
func PredictionEventID(sampleID, model, version string) string {
	return sampleID + ":" + model + ":" + version
}
