package aiapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/audit"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/ml"
)

// jobView is a training job as the dashboard reads it (§1.2 A5, §2.2).
type jobView struct {
	ID              string          `json:"id"`
	ModelType       string          `json:"modelType"`
	Status          string          `json:"status"`
	Phase           string          `json:"phase"`
	ProgressPercent float64         `json:"progressPercent"`
	StartedAt       time.Time       `json:"startedAt"` // created_at while pending: never null
	CompletedAt     *time.Time      `json:"completedAt"`
	CreatedAt       time.Time       `json:"createdAt"`
	CurrentEpoch    int             `json:"currentEpoch"`
	TotalEpochs     int             `json:"totalEpochs"`
	Accuracy        *float64        `json:"accuracy"`
	ValAccuracy     *float64        `json:"valAccuracy"`
	Loss            *float64        `json:"loss"`
	ValLoss         *float64        `json:"valLoss"`
	ModelID         *string         `json:"modelId"`
	DatasetID       *string         `json:"datasetId"`
	AutoPromote     bool            `json:"autoPromote"`
	Promoted        *bool           `json:"promoted"`
	PromotionReason *string         `json:"promotionReason"`
	ErrorMessage    *string         `json:"errorMessage"`
	Config          json.RawMessage `json:"config,omitempty"`
	Logs            json.RawMessage `json:"logs,omitempty"`
}

const jobColumns = `id::text, model_type, status, phase, progress_percent, COALESCE(started_at, created_at), completed_at,
	created_at, current_epoch, total_epochs, accuracy, val_accuracy, loss, val_loss, model_id::text, dataset_id::text,
	auto_promote, promoted, promotion_reason, error_message, config, logs`

func scanJob(row pgx.Row, detailed bool) (jobView, error) {
	var j jobView
	err := row.Scan(&j.ID, &j.ModelType, &j.Status, &j.Phase, &j.ProgressPercent, &j.StartedAt, &j.CompletedAt,
		&j.CreatedAt, &j.CurrentEpoch, &j.TotalEpochs, &j.Accuracy, &j.ValAccuracy, &j.Loss, &j.ValLoss, &j.ModelID,
		&j.DatasetID, &j.AutoPromote, &j.Promoted, &j.PromotionReason, &j.ErrorMessage, &j.Config, &j.Logs)
	j.StartedAt, j.CreatedAt, j.CompletedAt = j.StartedAt.UTC(), j.CreatedAt.UTC(), utc(j.CompletedAt)
	if !detailed {
		j.Config, j.Logs = nil, nil
	}
	return j, err
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	skip, limit, ok := page(w, r, 50)
	if !ok {
		return
	}
	ctx := r.Context()
	var total int
	if err := a.db.QueryRow(ctx, `SELECT count(*) FROM training_jobs`).Scan(&total); err != nil {
		a.fail(w, r, fmt.Errorf("count training jobs: %w", err))
		return
	}
	rows, err := a.db.Query(ctx, `SELECT `+jobColumns+` FROM training_jobs ORDER BY created_at DESC, id OFFSET $1 LIMIT $2`, skip, limit)
	if err != nil {
		a.fail(w, r, fmt.Errorf("list training jobs: %w", err))
		return
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (jobView, error) { return scanJob(row, false) })
	if err != nil {
		a.fail(w, r, fmt.Errorf("list training jobs: %w", err))
		return
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"trainings": jobs, "total": total})
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := scanJob(a.db.QueryRow(r.Context(), `SELECT `+jobColumns+` FROM training_jobs WHERE id::text = $1`,
		r.PathValue("id")), true)
	if errors.Is(err, pgx.ErrNoRows) {
		detail(w, http.StatusNotFound, "Training job not found")
		return
	}
	if err != nil {
		a.fail(w, r, fmt.Errorf("read training job: %w", err))
		return
	}
	httpapi.JSON(w, http.StatusOK, j)
}

// TrainingRequest is the body of POST /api/ai/training/: the dashboard's snake_case
// fields and bn's camelCase ones are both accepted (§2.2).
type TrainingRequest struct {
	ModelType     *string         `json:"model_type"`
	ModelTypeBN   *string         `json:"modelType"`
	Epochs        *int            `json:"epochs"`
	TotalEpochs   *int            `json:"totalEpochs"`
	BatchSize     *int            `json:"batch_size"`
	LearningRate  *float64        `json:"learning_rate"`
	Config        json.RawMessage `json:"config"`
	DatasetID     *string         `json:"datasetId"`
	AutoPromote   *bool           `json:"auto_promote"`
	AutoPromoteBN *bool           `json:"autoPromote"`
	NoHistograms  *bool           `json:"no_histograms"`
	MaxSamples    *int            `json:"max_samples"`
}

// jobSpec is a validated training request.
type jobSpec struct {
	ModelType   string
	Epochs      int
	AutoPromote bool
	Config      map[string]any
}

// ParseTrainingRequest validates a decoded request (FastAPI 422 items on failure).
func ParseTrainingRequest(req TrainingRequest) (jobSpec, []httpapi.ErrorItem) {
	var items []httpapi.ErrorItem
	spec := jobSpec{Epochs: 10, Config: map[string]any{}}
	if len(req.Config) > 0 && string(req.Config) != "null" {
		if err := json.Unmarshal(req.Config, &spec.Config); err != nil {
			items = append(items, httpapi.ErrorItem{Type: "dict_type", Loc: []any{"body", "config"},
				Msg: "Input should be a valid dictionary", Input: string(req.Config)})
		}
	}
	mt := req.ModelType
	if mt == nil {
		mt = req.ModelTypeBN
	}
	switch {
	case mt == nil:
		items = append(items, httpapi.Missing("body", "model_type"))
	case !slices.Contains(ml.ModelTypes, *mt):
		items = append(items, httpapi.EnumError(*mt, ml.ModelTypes, "body", "model_type"))
	default:
		spec.ModelType = *mt
	}
	ep := req.Epochs
	if ep == nil {
		ep = req.TotalEpochs
	}
	if ep != nil {
		items = append(items, httpapi.CheckNumber(float64(*ep), *ep, []any{"body", "epochs"}, httpapi.Ge(1), httpapi.Le(1000))...)
		spec.Epochs = *ep
	}
	if req.BatchSize != nil {
		items = append(items, httpapi.CheckNumber(float64(*req.BatchSize), *req.BatchSize, []any{"body", "batch_size"}, httpapi.Ge(1), httpapi.Le(4096))...)
		spec.Config["batch_size"] = *req.BatchSize
	}
	if req.LearningRate != nil {
		items = append(items, httpapi.CheckNumber(*req.LearningRate, *req.LearningRate, []any{"body", "learning_rate"}, httpapi.Gt(0), httpapi.Le(1))...)
		spec.Config["learning_rate"] = *req.LearningRate
	}
	if req.MaxSamples != nil {
		items = append(items, httpapi.CheckNumber(float64(*req.MaxSamples), *req.MaxSamples, []any{"body", "max_samples"}, httpapi.Ge(1))...)
		spec.Config["max_samples"] = *req.MaxSamples
	}
	if req.NoHistograms != nil {
		spec.Config["no_histograms"] = *req.NoHistograms
	}
	if req.AutoPromote != nil {
		spec.AutoPromote = *req.AutoPromote
	} else if req.AutoPromoteBN != nil {
		spec.AutoPromote = *req.AutoPromoteBN
	}
	return spec, items
}

func (a *API) createJob(w http.ResponseWriter, r *http.Request) {
	var req TrainingRequest
	if err := httpapi.DecodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	spec, items := ParseTrainingRequest(req)
	if len(items) > 0 {
		httpapi.WriteValidation(w, items...)
		return
	}
	var datasetID *string
	if req.DatasetID != nil && *req.DatasetID != "" {
		if _, err := uuid.Parse(*req.DatasetID); err != nil {
			httpapi.WriteValidation(w, httpapi.ErrorItem{Type: "uuid_parsing", Loc: []any{"body", "datasetId"},
				Msg: "Input should be a valid UUID", Input: *req.DatasetID})
			return
		}
		datasetID = req.DatasetID
	}
	j, err := CreateJob(r.Context(), a.db, spec, datasetID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.record(r, audit.ActionCreate, "training_job", j.ID,
		fmt.Sprintf("Entraînement %s demandé (%d époques)", spec.ModelType, spec.Epochs), "")
	httpapi.JSON(w, http.StatusCreated, withMessage("Training job created", j))
}

// CreateJob inserts a pending job and queues sqal.training.requested in one transaction.
func CreateJob(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, spec jobSpec, datasetID *string) (jobView, error) {
	cfg, err := json.Marshal(spec.Config)
	if err != nil {
		return jobView{}, fmt.Errorf("encode job config: %w", err)
	}
	var j jobView
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRow(ctx, `INSERT INTO training_jobs (model_type, total_epochs, config, auto_promote, dataset_id)
			VALUES ($1, $2, $3, $4, $5::uuid) RETURNING `+jobColumns, spec.ModelType, spec.Epochs, cfg, spec.AutoPromote, datasetID), false)
		if err != nil {
			return fmt.Errorf("create training job: %w", err)
		}
		e := cloudevents.NewEvent()
		e.SetID(j.ID)
		e.SetType(ml.TypeTrainingRequested)
		e.SetSource(ml.SourceAIAPI)
		e.SetSubject(spec.ModelType)
		if err := e.SetData(cloudevents.ApplicationJSON, ml.TrainingRequested{JobID: j.ID}); err != nil {
			return fmt.Errorf("encode training event: %w", err)
		}
		return events.AddToOutbox(ctx, tx, e)
	})
	return j, err
}
