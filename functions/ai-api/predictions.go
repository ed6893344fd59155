package aiapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/ml"
)

// predictionView is a stored prediction, with both contracts' keys (§2.3).
type predictionView struct {
	ID              string             `json:"id"`
	SampleID        string             `json:"sampleId"`
	DeviceID        string             `json:"deviceId"`
	ModelID         string             `json:"modelId,omitempty"`
	ModelName       string             `json:"modelName"`
	ModelVersion    string             `json:"modelVersion"`
	PredictedClass  string             `json:"predictedClass"`
	Score           float64            `json:"score"`
	Confidence      float64            `json:"confidence"`
	Probabilities   map[string]float64 `json:"probabilities"`
	Explanations    ml.Explanation     `json:"explanations"`
	Anomaly         *ml.AnomalyResult  `json:"anomaly,omitempty"`
	InferenceTimeMS float64            `json:"inferenceTimeMs"`
	FeatureVersion  string             `json:"featureVersion,omitempty"`
	Source          string             `json:"source,omitempty"`
	CreatedAt       time.Time          `json:"createdAt"`
}

func predictionOut(s ml.Stored) predictionView {
	return predictionView{ID: s.PredictionID, SampleID: s.SampleID, DeviceID: s.DeviceID, ModelID: s.ModelID,
		ModelName: s.ModelName, ModelVersion: s.ModelVersion, PredictedClass: s.Grade, Score: s.Score,
		Confidence: s.Confidence, Probabilities: s.Probabilities, Explanations: s.Explanation, Anomaly: s.Anomaly,
		InferenceTimeMS: s.InferenceTimeMS, FeatureVersion: s.FeatureVersion, Source: s.Source,
		CreatedAt: s.PredictedAt.UTC()}
}

func (a *API) listPredictions(w http.ResponseWriter, r *http.Request) {
	skip, limit, ok := page(w, r, 50)
	if !ok {
		return
	}
	p := httpapi.Params(r)
	f := ml.PredictionFilter{Skip: skip, Limit: limit,
		SampleID:  p.Query("sample_id").String(""),
		DeviceID:  p.Query("device_id").String(""),
		ModelName: p.Query("model_name").String("")}
	if !p.Check(w) {
		return
	}
	list, total, err := ml.ListPredictions(r.Context(), a.db, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]predictionView, len(list))
	for i, s := range list {
		out[i] = predictionOut(s)
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"predictions": out, "total": total})
}

// PredictRequest is the body of POST /api/ai/predict/ (bn's camelCase and snake_case).
type PredictRequest struct {
	ModelID    *string `json:"modelId"`
	ModelIDSn  *string `json:"model_id"`
	SampleID   *string `json:"sampleId"`
	SampleIDSn *string `json:"sample_id"`
}

// predict scores a stored sample with the active quality model, or with the version
// modelId names (any status: an operator can try a candidate before activating it).
// The prediction is stored once per sample and version, like the event-driven ones.
func (a *API) predict(w http.ResponseWriter, r *http.Request) {
	var req PredictRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	sampleID := firstOf(req.SampleID, req.SampleIDSn)
	if sampleID == "" {
		httpapi.WriteValidation(w, httpapi.Missing("body", "sampleId"))
		return
	}
	ctx := r.Context()
	var served ml.Served
	if id := firstOf(req.ModelID, req.ModelIDSn); id != "" {
		rec, err := a.reg.Get(ctx, nil, id)
		if err != nil {
			a.registryError(w, r, err)
			return
		}
		m, err := a.reg.Load(ctx, rec)
		if err != nil {
			a.registryError(w, r, err)
			return
		}
		served = ml.Served{Model: m, ID: rec.ID}
	} else {
		var err error
		if served, err = a.svc.Model(ctx, ml.QualityModel); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	s, err := a.svc.PredictWith(ctx, served, sampleID, "api")
	if errors.Is(err, features.ErrSampleNotFound) {
		detail(w, http.StatusNotFound, "Sample not found: "+sampleID)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, predictionOut(s))
}

func firstOf(vs ...*string) string {
	for _, v := range vs {
		if v != nil && *v != "" {
			return *v
		}
	}
	return ""
}

// metrics is GET /api/ai/metrics/ (§2.4, recommended shape).
func (a *API) metrics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// bestModel's accuracies are never null: the Monitoring page multiplies and formats
	// them (contract A1 types them float); an unmeasured model counts 0, as in the averages.
	type best struct {
		ID          string  `json:"id"`
		Name        string  `json:"name"`
		Type        string  `json:"type"`
		Version     string  `json:"version"`
		Accuracy    float64 `json:"accuracy"`
		ValAccuracy float64 `json:"valAccuracy"`
	}
	type point struct {
		Date        string  `json:"date"`
		Accuracy    float64 `json:"accuracy"`
		ValAccuracy float64 `json:"valAccuracy"`
	}
	out := map[string]any{}
	var total, active, training int
	var avgAcc, avgVal float64
	err := a.db.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM ai_models),
			(SELECT count(*) FROM ai_models WHERE status = 'active'),
			(SELECT count(*) FROM training_jobs WHERE status IN ('pending', 'running')),
			COALESCE((SELECT avg(COALESCE(accuracy, 0)) FROM ai_models WHERE status = 'active'), 0),
			COALESCE((SELECT avg(COALESCE(val_accuracy, 0)) FROM ai_models WHERE status = 'active'), 0)`).
		Scan(&total, &active, &training, &avgAcc, &avgVal)
	if err != nil {
		a.fail(w, r, fmt.Errorf("model metrics: %w", err))
		return
	}
	out["totalModels"], out["activeModels"], out["trainingModels"] = total, active, training
	out["averageAccuracy"], out["averageValAccuracy"] = round4(avgAcc), round4(avgVal)

	var latency *float64
	if err := a.db.QueryRow(ctx, `SELECT avg(inference_time_ms) FROM predictions
		WHERE inference_time_ms IS NOT NULL AND COALESCE(predicted_at, created_at) > now() - interval '24 hours'`).Scan(&latency); err != nil {
		a.fail(w, r, fmt.Errorf("prediction latency: %w", err))
		return
	}
	out["averageLatency"] = "0ms"
	if latency != nil {
		out["averageLatency"] = fmt.Sprintf("%.1fms", *latency)
	}

	var b best
	err = a.db.QueryRow(ctx, `SELECT id::text, name, COALESCE(model_type, ''), version, COALESCE(accuracy, 0), COALESCE(val_accuracy, 0)
		FROM ai_models WHERE status = 'active' ORDER BY val_accuracy DESC NULLS LAST, created_at DESC LIMIT 1`).
		Scan(&b.ID, &b.Name, &b.Type, &b.Version, &b.Accuracy, &b.ValAccuracy)
	switch {
	case err == nil:
		out["bestModel"] = b
	case !errors.Is(err, pgx.ErrNoRows):
		a.fail(w, r, fmt.Errorf("best model: %w", err))
		return
	}

	rows, err := a.db.Query(ctx, `SELECT to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
			COALESCE(accuracy, 0), COALESCE(val_accuracy, 0)
		FROM (SELECT * FROM training_jobs WHERE status = 'completed' ORDER BY completed_at DESC LIMIT 30) j
		ORDER BY completed_at`)
	if err != nil {
		a.fail(w, r, fmt.Errorf("performance history: %w", err))
		return
	}
	history, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (point, error) {
		var p point
		err := row.Scan(&p.Date, &p.Accuracy, &p.ValAccuracy)
		return p, err
	})
	if err != nil {
		a.fail(w, r, fmt.Errorf("performance history: %w", err))
		return
	}
	if history == nil {
		history = []point{}
	}
	out["performanceHistory"] = history
	httpapi.JSON(w, http.StatusOK, out)
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func (a *API) listDatasets(w http.ResponseWriter, r *http.Request) {
	skip, limit, ok := page(w, r, 50)
	if !ok {
		return
	}
	type datasetView struct {
		ID           string     `json:"id"`
		Name         string     `json:"name"`
		Description  *string    `json:"description"`
		TotalSamples int        `json:"totalSamples"`
		TrainSamples *int       `json:"trainSamples"`
		ValSamples   *int       `json:"valSamples"`
		TestSamples  *int       `json:"testSamples"`
		SizeBytes    *int64     `json:"sizeBytes"`
		DatasetHash  *string    `json:"datasetHash"`
		WindowFrom   *time.Time `json:"windowFrom"`
		WindowTo     *time.Time `json:"windowTo"`
		Statistics   []byte     `json:"-"`
		CreatedAt    time.Time  `json:"createdAt"`
	}
	ctx := r.Context()
	var total int
	if err := a.db.QueryRow(ctx, `SELECT count(*) FROM datasets`).Scan(&total); err != nil {
		a.fail(w, r, fmt.Errorf("count datasets: %w", err))
		return
	}
	rows, err := a.db.Query(ctx, `SELECT id::text, name, description, total_samples, train_samples, val_samples,
		test_samples, size_bytes, dataset_hash, window_from, window_to, created_at
		FROM datasets ORDER BY created_at DESC, id OFFSET $1 LIMIT $2`, skip, limit)
	if err != nil {
		a.fail(w, r, fmt.Errorf("list datasets: %w", err))
		return
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (datasetView, error) {
		var d datasetView
		err := row.Scan(&d.ID, &d.Name, &d.Description, &d.TotalSamples, &d.TrainSamples, &d.ValSamples,
			&d.TestSamples, &d.SizeBytes, &d.DatasetHash, &d.WindowFrom, &d.WindowTo, &d.CreatedAt)
		d.WindowFrom, d.WindowTo, d.CreatedAt = utc(d.WindowFrom), utc(d.WindowTo), d.CreatedAt.UTC()
		return d, err
	})
	if err != nil {
		a.fail(w, r, fmt.Errorf("list datasets: %w", err))
		return
	}
	if list == nil {
		list = []datasetView{}
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"datasets": list, "total": total})
}

// LabelRequest is the body of POST /api/ai/labels/: a quality operator's verdict on a
// sample, which training prefers to the device's fusion grade.
type LabelRequest struct {
	SampleID   string   `json:"sample_id"`
	Grade      string   `json:"grade"`
	Score      *float64 `json:"score"`
	LabelledBy *string  `json:"labelled_by"`
	Note       *string  `json:"note"`
}

func (a *API) putLabel(w http.ResponseWriter, r *http.Request) {
	var req LabelRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	var items []httpapi.ErrorItem
	if req.SampleID == "" {
		items = append(items, httpapi.Missing("body", "sample_id"))
	}
	if ml.GradeIndex(req.Grade) < 0 {
		items = append(items, httpapi.EnumError(req.Grade, ml.Grades, "body", "grade"))
	}
	if req.Score != nil {
		items = append(items, httpapi.CheckNumber(*req.Score, *req.Score, []any{"body", "score"}, httpapi.Ge(0), httpapi.Le(1))...)
	}
	if len(items) > 0 {
		httpapi.WriteValidation(w, items...)
		return
	}
	// The label goes with its sample, in the sample's organisation: a sample the
	// request's scope does not show (unknown, or another organisation's) is not found and
	// nothing is written. The organisation is the sample's rather than the column
	// default, which under the cross-organisation scope would be the default one.
	tag, err := a.db.Exec(r.Context(), `INSERT INTO sample_labels (sample_id, grade, score, labelled_by, note, organization_id)
		SELECT s.sample_id, $2::text, $3::float8, $4::text, $5::text, s.organization_id FROM sensor_samples s WHERE s.sample_id = $1
		ON CONFLICT (sample_id) DO UPDATE SET grade = EXCLUDED.grade, score = EXCLUDED.score,
			labelled_by = EXCLUDED.labelled_by, note = EXCLUDED.note, updated_at = now()`,
		req.SampleID, req.Grade, req.Score, req.LabelledBy, req.Note)
	if err != nil {
		a.fail(w, r, fmt.Errorf("store label: %w", err))
		return
	}
	if tag.RowsAffected() == 0 {
		detail(w, http.StatusNotFound, "Sample not found: "+req.SampleID)
		return
	}
	a.record(r, audit.ActionUpdate, "sample_label", req.SampleID, fmt.Sprintf("Grade opérateur %s", req.Grade), "")
	httpapi.JSON(w, http.StatusCreated, map[string]any{"message": "Label stored", "sample_id": req.SampleID,
		"grade": req.Grade, "score": req.Score})
}
