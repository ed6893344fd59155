package train_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	aiapi "github.com/sqalfn/sqal/functions/ai-api"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/ml"
)

// TestTrainingStartedOverHTTP: POST /api/ai/training/ (the dashboard's body) -> the
// outbox event -> the train step -> GET /api/ai/training/{id} shows the completed job and
// GET /api/ai/models/ the new version with its metrics.
func TestTrainingStartedOverHTTP(t *testing.T) {
	db, tr := setup(t, 1500)
	ctx := context.Background()
	api, err := aiapi.New(database.NewDB(db), aiapi.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) map[string]any {
		t.Helper()
		w := httptest.NewRecorder()
		api.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		return out
	}
	job := call("POST", "/api/ai/training/", `{"model_type":"fusion_ensemble","epochs":12,"batch_size":32,"learning_rate":0.05}`)
	id := job["id"].(string)

	// What the outbox relay would deliver through the Broker.
	var payload []byte
	if err := db.QueryRow(ctx, `SELECT payload FROM event_outbox WHERE type = $1 AND event_id = $2`,
		ml.TypeTrainingRequested, id).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetType(ml.TypeTrainingRequested)
	e.SetSource(ml.SourceAIAPI)
	if err := e.SetData(cloudevents.ApplicationJSON, json.RawMessage(payload)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Handle(ctx, e); err != nil {
		t.Fatal(err)
	}

	done := call("GET", "/api/ai/training/"+id, "")
	if done["status"] != "completed" || done["progressPercent"].(float64) != 100 || done["currentEpoch"].(float64) != 12 ||
		done["valAccuracy"] == nil || done["modelId"] == nil {
		t.Fatalf("job: %v", done)
	}
	model := call("GET", "/api/ai/models/"+done["modelId"].(string), "")
	if model["version"] != "1" || model["status"] != "inactive" || model["valAccuracy"] == nil || model["metrics"] == nil {
		t.Fatalf("model: %v", model)
	}
	if _, ok := model["metrics"].(map[string]any)["test"].(map[string]any)["confusion"]; !ok {
		t.Fatalf("metrics without a confusion matrix: %v", model["metrics"])
	}
	// Activation and rollback over HTTP.
	if m := call("POST", "/api/ai/models/"+done["modelId"].(string)+"/activate/", ""); m["status"] != "active" {
		t.Fatalf("activate: %v", m)
	}
	if m := call("POST", "/api/ai/models/"+done["modelId"].(string)+"/rollback/", ""); m["version"] != "0" {
		t.Fatalf("rollback: %v", m)
	}
	metrics := call("GET", "/api/ai/metrics/", "")
	if h := metrics["performanceHistory"].([]any); len(h) != 1 {
		t.Fatalf("performance history: %v", metrics)
	}
}
