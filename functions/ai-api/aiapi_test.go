package aiapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	aiapi "github.com/sqalfn/sqal/functions/ai-api"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/ml/synth"
	"github.com/sqalfn/sqal/shared/testenv"
)

type env struct {
	t       *testing.T
	db      *pgxpool.Pool
	h       http.Handler
	samples []synth.Sample
}

func setup(t *testing.T, n int) *env {
	t.Helper()
	db := testenv.DB(t)
	samples := synth.New(9).Batch(n)
	if err := synth.Insert(context.Background(), db, samples, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	h, err := aiapi.New(database.NewDB(db), aiapi.Config{ModelRefresh: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, h: h, samples: samples}
}

func (e *env) do(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	e.h.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		e.t.Fatalf("%s %s: %d, body not a JSON object: %s", method, path, w.Code, w.Body)
	}
	return w.Code, out
}

// register trains and registers a candidate directly (the train step's job).
func (e *env) register() ml.Record {
	e.t.Helper()
	ctx := context.Background()
	d, _, err := ml.LoadDataset(ctx, e.db, features.Loader{}, features.Window{})
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := ml.Train(ctx, d, ml.TrainConfig{Epochs: 2, NoHistograms: true}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	reg := &ml.Registry{DB: e.db, Store: ml.PGStore{DB: e.db}, Outbox: events.AddToOutbox, Source: ml.SourceTrain}
	var rec ml.Record
	if err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
		rec, err = reg.Register(ctx, tx, ml.Candidate{Model: m, Samples: d.Len(), Test: ml.Metrics{Accuracy: 0.9}})
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	return rec
}

func TestModelsLifecycle(t *testing.T) {
	e := setup(t, 100)
	code, list := e.do("GET", "/api/ai/models/", "")
	if code != 200 || list["total"].(float64) != 1 {
		t.Fatalf("seeded registry: %d %v", code, list)
	}
	v0 := list["models"].([]any)[0].(map[string]any)
	if v0["status"] != "active" || v0["version"] != "0" || v0["type"] != "rules" {
		t.Fatalf("seeded model: %v", v0)
	}
	v1 := e.register()

	// Both spellings of every path, no redirect.
	for _, path := range []string{"/api/ai/models/" + v1.ID, "/api/ai/models/" + v1.ID + "/"} {
		if code, m := e.do("GET", path, ""); code != 200 || m["status"] != "inactive" || m["registryStatus"] != "candidate" {
			t.Fatalf("GET %s: %d %v", path, code, m)
		}
	}
	if code, m := e.do("POST", "/api/ai/models/"+v1.ID+"/activate/", ""); code != 200 || m["status"] != "active" || m["message"] != "Model activated successfully" {
		t.Fatalf("activate: %d %v", code, m)
	}
	_, list = e.do("GET", "/api/ai/models/?limit=10", "")
	if list["active"].(float64) != 1 {
		t.Fatalf("%v active after activating v1", list["active"])
	}
	if code, m := e.do("POST", "/api/ai/models/"+v1.ID+"/rollback/", ""); code != 200 || m["version"] != "0" {
		t.Fatalf("rollback: %d %v", code, m)
	}
	if code, m := e.do("POST", "/api/ai/models/"+v0["id"].(string)+"/deactivate", ""); code != 200 || m["status"] != "inactive" {
		t.Fatalf("deactivate: %d %v", code, m)
	}
	// Activating a version with a corrupt artefact is refused with a clear message.
	if _, err := e.db.Exec(context.Background(), `UPDATE ai_model_artefacts SET data = substring(data from 1 for 50) WHERE model_id = $1`, v1.ID); err != nil {
		t.Fatal(err)
	}
	if code, m := e.do("POST", "/api/ai/models/"+v1.ID+"/activate/", ""); code != 409 || !strings.Contains(m["detail"].(string), "corrupt") {
		t.Fatalf("corrupt activation: %d %v", code, m)
	}
	for _, path := range []string{"/api/ai/models/not-a-uuid", "/api/ai/models/00000000-0000-0000-0000-000000000000/activate/"} {
		method := "GET"
		if strings.HasSuffix(path, "activate/") {
			method = "POST"
		}
		if code, m := e.do(method, path, ""); code != 404 || m["detail"] != "Model not found" {
			t.Errorf("%s: %d %v", path, code, m)
		}
	}
}

func TestTrainingRequests(t *testing.T) {
	e := setup(t, 1)
	tests := []struct {
		name, body string
		want       int
		check      func(map[string]any) bool
	}{
		{"dashboard body", `{"model_type":"fusion_ensemble","epochs":50,"batch_size":32,"learning_rate":0.001}`, 201,
			func(m map[string]any) bool {
				return m["status"] == "pending" && m["totalEpochs"].(float64) == 50 && m["startedAt"] != nil
			}},
		{"bn body", `{"modelType":"as7341_cnn","totalEpochs":3,"config":{"x":1}}`, 201,
			func(m map[string]any) bool { return m["modelType"] == "as7341_cnn" && m["totalEpochs"].(float64) == 3 }},
		{"emptied number field", `{"model_type":"vl53l8ch_cnn","epochs":null}`, 201,
			func(m map[string]any) bool { return m["totalEpochs"].(float64) == 10 }},
		{"missing type", `{"epochs":5}`, 422, func(m map[string]any) bool { return strings.Contains(mustJSON(m), `"missing"`) }},
		{"unknown type", `{"model_type":"gpt"}`, 422, func(m map[string]any) bool { return strings.Contains(mustJSON(m), `"enum"`) }},
		{"too many epochs", `{"model_type":"fusion_ensemble","epochs":5000}`, 422, func(m map[string]any) bool { return strings.Contains(mustJSON(m), "less_than_equal") }},
		{"no body", ``, 422, func(m map[string]any) bool { return true }},
		{"bad json", `{`, 422, func(m map[string]any) bool { return strings.Contains(mustJSON(m), "json_invalid") }},
	}
	created := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, m := e.do("POST", "/api/ai/training/", tc.body)
			if code != tc.want || !tc.check(m) {
				t.Fatalf("%d %v", code, m)
			}
			if code == 201 {
				created++
				var n int
				e.db.QueryRow(context.Background(), `SELECT count(*) FROM event_outbox WHERE type = $1 AND event_id = $2`,
					ml.TypeTrainingRequested, m["id"]).Scan(&n)
				if n != 1 {
					t.Fatalf("%d sqal.training.requested events for job %v", n, m["id"])
				}
				if code, j := e.do("GET", "/api/ai/training/"+m["id"].(string), ""); code != 200 || j["phase"] != "queued" {
					t.Fatalf("GET job: %d %v", code, j)
				}
			}
		})
	}
	code, list := e.do("GET", "/api/ai/training/?limit=10", "")
	if code != 200 || int(list["total"].(float64)) != created || len(list["trainings"].([]any)) != created {
		t.Fatalf("list: %d %v", code, list)
	}
	var audited int
	if err := e.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE resource_type = 'training_job'`).Scan(&audited); err != nil || audited != created {
		t.Fatalf("%d audited training requests for %d created (%v)", audited, created, err)
	}
	if code, m := e.do("GET", "/api/ai/training/00000000-0000-0000-0000-000000000000", ""); code != 404 || m["detail"] != "Training job not found" {
		t.Fatalf("unknown job: %d %v", code, m)
	}
}

func TestPredictMetricsDatasetsLabels(t *testing.T) {
	e := setup(t, 50)
	s := e.samples[0]
	code, p := e.do("POST", "/api/ai/predict/", `{"sampleId":"`+s.SampleID+`"}`)
	if code != 200 || p["predictedClass"] != s.FinalGrade || p["modelVersion"] != "0" {
		t.Fatalf("predict: %d %v", code, p)
	}
	v1 := e.register()
	code, p1 := e.do("POST", "/api/ai/predict/", `{"modelId":"`+v1.ID+`","sample_id":"`+s.SampleID+`"}`)
	if code != 200 || p1["modelVersion"] != v1.Version || p1["anomaly"] == nil {
		t.Fatalf("predict with a candidate: %d %v", code, p1)
	}
	if code, m := e.do("POST", "/api/ai/predict/", `{"sampleId":"nope"}`); code != 404 || m["detail"] != "Sample not found: nope" {
		t.Fatalf("unknown sample: %d %v", code, m)
	}
	if code, _ := e.do("POST", "/api/ai/predict/", `{}`); code != 422 {
		t.Fatalf("missing sample: %d", code)
	}
	code, list := e.do("GET", "/api/ai/predictions/?sample_id="+s.SampleID, "")
	if code != 200 || list["total"].(float64) != 2 {
		t.Fatalf("predictions: %d %v", code, list)
	}
	code, m := e.do("GET", "/api/ai/metrics/", "")
	if code != 200 || m["activeModels"].(float64) != 1 || m["bestModel"] == nil || m["averageLatency"] == "0ms" {
		t.Fatalf("metrics: %d %v", code, m)
	}
	// The seeded rules model has no measured accuracy: 0, never null (the page formats it).
	if b := m["bestModel"].(map[string]any); b["type"] != "rules" || b["version"] != "0" || b["accuracy"] != 0.0 || b["valAccuracy"] != 0.0 {
		t.Fatalf("bestModel: %v", b)
	}
	if code, m := e.do("GET", "/api/ai/datasets/", ""); code != 200 || m["datasets"] == nil {
		t.Fatalf("datasets: %d %v", code, m)
	}
	if code, m := e.do("POST", "/api/ai/labels/", `{"sample_id":"`+s.SampleID+`","grade":"REJECT","labelled_by":"op"}`); code != 201 {
		t.Fatalf("label: %d %v", code, m)
	}
	if code, _ := e.do("POST", "/api/ai/labels/", `{"sample_id":"`+s.SampleID+`","grade":"Z"}`); code != 422 {
		t.Fatalf("bad label grade: %d", code)
	}
	d, info, err := ml.LoadDataset(context.Background(), e.db, features.Loader{}, features.Window{})
	if err != nil || info.OperatorLabelled != 1 || d.Len() != 50 {
		t.Fatalf("operator label not used for training: %+v %v", info, err)
	}
}

func FuzzTrainingRequest(f *testing.F) {
	f.Add([]byte(`{"model_type":"fusion_ensemble","epochs":50,"batch_size":32,"learning_rate":0.001}`))
	f.Add([]byte(`{"modelType":"as7341_cnn","totalEpochs":-1,"config":[1]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req aiapi.TrainingRequest
		if json.Unmarshal(b, &req) != nil {
			return
		}
		spec, items := aiapi.ParseTrainingRequest(req)
		if len(items) == 0 && (spec.Epochs < 1 || spec.Epochs > 1000 || spec.ModelType == "") {
			t.Fatalf("accepted %+v", spec)
		}
	})
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
