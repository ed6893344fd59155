package aiapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/sqalfn/sqal/shared/httpapi"
	"github.com/sqalfn/sqal/shared/ml"
)

// modelView is a registry row as the dashboard reads it (§2.1): bn's keys, status in
// bn's vocabulary (active / inactive), plus the registry's own fields.
type modelView struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Type           string          `json:"type"`
	Version        string          `json:"version"`
	Status         string          `json:"status"`
	RegistryStatus string          `json:"registryStatus"`
	IsActive       bool            `json:"isActive"`
	Accuracy       *float64        `json:"accuracy"`
	ValAccuracy    *float64        `json:"valAccuracy"`
	Size           *int64          `json:"size"`
	Architecture   *string         `json:"architecture"`
	Framework      *string         `json:"framework"`
	FeatureVersion *string         `json:"featureVersion"`
	TrainingJobID  *string         `json:"trainingJobId"`
	DatasetID      *string         `json:"datasetId"`
	DatasetHash    *string         `json:"datasetHash"`
	TrainSamples   *int32          `json:"trainSamples"`
	TrainFrom      *time.Time      `json:"trainFrom"`
	TrainTo        *time.Time      `json:"trainTo"`
	ActivatedAt    *time.Time      `json:"activatedAt"`
	DeactivatedAt  *time.Time      `json:"deactivatedAt"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
	Precision      *float64        `json:"precision,omitempty"`
	Recall         *float64        `json:"recall,omitempty"`
	F1Score        *float64        `json:"f1Score,omitempty"`
	Parameters     *int64          `json:"parametersCount,omitempty"`
	Config         json.RawMessage `json:"config,omitempty"`
	Metrics        json.RawMessage `json:"metrics,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
}

func view(r ml.Record, detailed bool) modelView {
	status := "inactive"
	if r.Status == ml.StatusActive {
		status = "active"
	}
	typ := ""
	if r.ModelType != nil {
		typ = *r.ModelType
	}
	v := modelView{ID: r.ID, Name: r.Name, Type: typ, Version: r.Version, Status: status, RegistryStatus: r.Status,
		IsActive: r.Status == ml.StatusActive, Accuracy: r.Accuracy, ValAccuracy: r.ValAccuracy, Size: r.SizeBytes,
		Architecture: r.Architecture, Framework: r.Framework, FeatureVersion: r.FeatureVersion,
		TrainingJobID: r.TrainingJobID, DatasetID: r.DatasetID, DatasetHash: r.DatasetHash, TrainSamples: r.TrainSamples,
		TrainFrom: utc(r.TrainFrom), TrainTo: utc(r.TrainTo), ActivatedAt: utc(r.ActivatedAt),
		DeactivatedAt: utc(r.DeactivatedAt), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if detailed {
		v.Precision, v.Recall, v.F1Score, v.Parameters = r.Precision, r.Recall, r.F1, r.ParametersCount
		v.Config, v.Metrics, v.Metadata = r.Config, r.Metrics, r.Metadata
	}
	return v
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (a *API) listModels(w http.ResponseWriter, r *http.Request) {
	skip, limit, ok := page(w, r, 50)
	if !ok {
		return
	}
	p := httpapi.Params(r)
	status := p.Query("status").String("")
	name := p.Query("name").String("")
	if !p.Check(w) {
		return
	}
	// The dashboard's vocabulary maps onto the registry's: "inactive" = not active.
	filter := ml.ListFilter{Name: name, Skip: skip, Limit: limit}
	switch status {
	case "active", ml.StatusCandidate, ml.StatusArchived:
		filter.Status = status
	}
	recs, total, err := a.reg.List(r.Context(), filter)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]modelView, 0, len(recs))
	active := 0
	for _, rec := range recs {
		if status == "inactive" && rec.Status == ml.StatusActive {
			total--
			continue
		}
		if rec.Status == ml.StatusActive {
			active++
		}
		out = append(out, view(rec, false))
	}
	httpapi.JSON(w, http.StatusOK, map[string]any{"models": out, "total": total, "active": active})
}

func (a *API) getModel(w http.ResponseWriter, r *http.Request) {
	rec, err := a.reg.Get(r.Context(), nil, r.PathValue("id"))
	if errors.Is(err, ml.ErrModelNotFound) {
		detail(w, http.StatusNotFound, "Model not found")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpapi.JSON(w, http.StatusOK, view(rec, true))
}

// registryError answers the refusals of activate/deactivate/rollback.
func (a *API) registryError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ml.ErrModelNotFound):
		detail(w, http.StatusNotFound, "Model not found")
	case errors.Is(err, ml.ErrCorruptArtefact), errors.Is(err, ml.ErrNoArtefact):
		// The version cannot be served: refuse, the active version keeps serving.
		detail(w, http.StatusConflict, "Model artefact cannot be loaded, activation refused: "+err.Error())
	case errors.Is(err, ml.ErrNoPrevious):
		detail(w, http.StatusConflict, "No previously active version to roll back to")
	default:
		a.fail(w, r, err)
	}
}

func (a *API) activate(w http.ResponseWriter, r *http.Request) {
	rec, err := a.reg.Activate(r.Context(), r.PathValue("id"), "api")
	if err != nil {
		a.registryError(w, r, err)
		return
	}
	a.recordModelChange(r, "activate", rec)
	httpapi.JSON(w, http.StatusOK, withMessage("Model activated successfully", view(rec, false)))
}

func (a *API) deactivate(w http.ResponseWriter, r *http.Request) {
	rec, err := a.reg.Deactivate(r.Context(), r.PathValue("id"))
	if err != nil {
		a.registryError(w, r, err)
		return
	}
	a.recordModelChange(r, "deactivate", rec)
	httpapi.JSON(w, http.StatusOK, withMessage("Model deactivated successfully", view(rec, false)))
}

// rollback re-activates the version of the model's name that was active before the
// current one. {id} is any version of the name (or the name itself).
func (a *API) rollback(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("id")
	if rec, err := a.reg.Get(r.Context(), nil, name); err == nil {
		name = rec.Name
	} else if !errors.Is(err, ml.ErrModelNotFound) {
		a.fail(w, r, err)
		return
	}
	rec, err := a.reg.Rollback(r.Context(), name)
	if err != nil {
		a.registryError(w, r, err)
		return
	}
	a.recordModelChange(r, "rollback", rec)
	httpapi.JSON(w, http.StatusOK, withMessage("Model rolled back successfully", view(rec, false)))
}

// withMessage merges bn's {"message"} into an object response.
func withMessage(msg string, v any) map[string]any {
	b, _ := json.Marshal(v)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	out["message"] = msg
	return out
}
