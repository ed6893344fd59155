package predict_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/functions/predict"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/ml/synth"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/testenv"
)

type env struct {
	db      *pgxpool.Pool
	srv     *predict.Server
	samples []synth.Sample
}

func setup(t *testing.T, n int) *env {
	t.Helper()
	db := testenv.DB(t)
	samples := synth.New(3).Batch(n)
	if err := synth.Insert(context.Background(), db, samples, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	srv, err := predict.New(context.Background(), database.NewDB(db), predict.Config{Models: []string{ml.QualityModel}, RefreshInterval: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &env{db: db, srv: srv, samples: samples}
}

// binaryEvent builds a binary-mode CloudEvent request, as the Broker delivers it.
func binaryEvent(typ, id string, data any) *http.Request {
	b, _ := json.Marshal(data)
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("ce-specversion", "1.0")
	r.Header.Set("ce-type", typ)
	r.Header.Set("ce-source", sample.Source)
	r.Header.Set("ce-id", id)
	return r
}

func structuredEvent(typ, id string, data any) *http.Request {
	b, _ := json.Marshal(map[string]any{"specversion": "1.0", "type": typ, "source": sample.Source, "id": id,
		"datacontenttype": "application/json", "data": data})
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/cloudevents+json")
	return r
}

func (e *env) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	return w
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func stored(s synth.Sample) sample.StoredEvent {
	return sample.StoredEvent{SampleID: s.SampleID, DeviceID: s.DeviceID, FinalScore: s.FinalScore, FinalGrade: s.FinalGrade}
}

func TestStoredSampleGetsOnePredictionWithExplanation(t *testing.T) {
	e := setup(t, 5)
	s := e.samples[0]
	for i, req := range []*http.Request{
		binaryEvent(sample.TypeStored, s.SampleID, stored(s)),
		binaryEvent(sample.TypeStored, s.SampleID, stored(s)),     // redelivery
		structuredEvent(sample.TypeStored, s.SampleID, stored(s)), // same event, other mode
	} {
		if w := e.do(req); w.Code != http.StatusAccepted {
			t.Fatalf("delivery %d: %d %s", i, w.Code, w.Body)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM predictions WHERE sample_id = $1`, s.SampleID); n != 1 {
		t.Fatalf("%d predictions after three deliveries", n)
	}
	if n := e.count(t, `SELECT count(*) FROM event_outbox WHERE type = $1 AND event_id = $2`, ml.TypePredictionCreated,
		ml.PredictionEventID(s.SampleID, ml.QualityModel, "0")); n != 1 {
		t.Fatalf("%d prediction events", n)
	}
	var grade, summary string
	var score float64
	if err := e.db.QueryRow(context.Background(), `SELECT grade, score, explanations->>'summary' FROM predictions
		WHERE sample_id = $1`, s.SampleID).Scan(&grade, &score, &summary); err != nil {
		t.Fatal(err)
	}
	if grade != s.FinalGrade || summary == "" {
		t.Errorf("stored grade %s (device %s), summary %q", grade, s.FinalGrade, summary)
	}
}

func TestEventErrors(t *testing.T) {
	e := setup(t, 1)
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"unknown sample", binaryEvent(sample.TypeStored, "nope", sample.StoredEvent{SampleID: "nope"}), http.StatusBadRequest},
		{"unknown type", binaryEvent("sqal.other", "x", map[string]string{}), http.StatusBadRequest},
		{"undecodable data", binaryEvent(sample.TypeStored, "x", "not an object"), http.StatusBadRequest},
		{"not a CloudEvent", httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`)), http.StatusBadRequest},
		{"activation of another model", binaryEvent(ml.TypeModelActivated, "y", ml.ModelEvent{Name: "other"}), http.StatusAccepted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if w := e.do(tc.req); w.Code != tc.want {
				t.Errorf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}
}

func TestActivationEventSwitchesTheServedModel(t *testing.T) {
	e := setup(t, 300)
	ctx := context.Background()
	reg := &ml.Registry{DB: e.db, Store: ml.PGStore{DB: e.db}, Outbox: events.AddToOutbox, Source: ml.SourceTrain}
	d, _, err := ml.LoadDataset(ctx, e.db, features.Loader{}, features.Window{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := ml.Train(ctx, d, ml.TrainConfig{Epochs: 3, NoHistograms: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rec ml.Record
	if err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
		rec, err = reg.Register(ctx, tx, ml.Candidate{Model: m, Samples: d.Len()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Activate(ctx, rec.ID, "test"); err != nil {
		t.Fatal(err)
	}
	// The cache (refresh interval one hour) still serves v0 until the event arrives.
	s0, s1 := e.samples[0], e.samples[1]
	e.do(binaryEvent(sample.TypeStored, s0.SampleID, stored(s0)))
	w := e.do(binaryEvent(ml.TypeModelActivated, rec.ID+":activated", ml.ModelEvent{ModelID: rec.ID, Name: rec.Name, Version: rec.Version}))
	if w.Code != http.StatusAccepted {
		t.Fatalf("activation event: %d %s", w.Code, w.Body)
	}
	e.do(binaryEvent(sample.TypeStored, s1.SampleID, stored(s1)))
	var v0, v1 string
	e.db.QueryRow(ctx, `SELECT model_version FROM predictions WHERE sample_id = $1`, s0.SampleID).Scan(&v0)
	e.db.QueryRow(ctx, `SELECT model_version FROM predictions WHERE sample_id = $1`, s1.SampleID).Scan(&v1)
	if v0 != "0" || v1 != rec.Version {
		t.Fatalf("versions before/after the activation event: %q, %q (want 0, %s)", v0, v1, rec.Version)
	}
}

func TestOpenInferenceProtocol(t *testing.T) {
	e := setup(t, 3)
	x0, _ := features.Extract(e.samples[0].Features)
	x1, _ := features.Extract(e.samples[1].Features)
	featuresBody, _ := json.Marshal(map[string]any{"id": "req-1", "inputs": []map[string]any{
		{"name": "features", "datatype": "FP64", "shape": []int{2, features.Len()}, "data": [][]float64{x0, x1}}}})
	samplesBody, _ := json.Marshal(map[string]any{"inputs": []map[string]any{
		{"name": "sample_id", "datatype": "BYTES", "shape": []int{1}, "data": []string{e.samples[2].SampleID}}},
		"outputs": []map[string]string{{"name": "grade"}}})
	tests := []struct {
		method, path, body string
		want               int
		contains           string
	}{
		{"GET", "/v2/health/live", "", 200, `"live":true`},
		{"GET", "/v2/health/ready", "", 200, `"ready":true`},
		{"GET", "/v2/models/sqal-quality", "", 200, `"versions":["0"]`},
		{"GET", "/v2/models/sqal-quality/ready", "", 200, `"ready":true`},
		{"GET", "/v2/models/sqal-quality/versions/0/ready", "", 200, `"ready":true`},
		{"GET", "/v2/models/sqal-quality/versions/9/ready", "", 404, `not served`},
		{"GET", "/v2/models/unknown", "", 404, `"error"`},
		{"POST", "/v2/models/sqal-quality/infer", string(featuresBody), 200, `"id":"req-1"`},
		{"POST", "/v2/models/sqal-quality/infer", string(samplesBody), 200, fmt.Sprintf(`"data":[%q]`, e.samples[2].FinalGrade)},
		{"POST", "/v2/models/sqal-quality/infer", `{"inputs":[{"name":"features","datatype":"FP64","shape":[1,3],"data":[1,2,3]}]}`, 400, `shape`},
		{"POST", "/v2/models/sqal-quality/infer", `{"inputs":[]}`, 400, `required`},
		{"POST", "/v2/models/sqal-quality/infer", `not json`, 400, `decode`},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := e.do(httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			if w.Code != tc.want || !strings.Contains(w.Body.String(), tc.contains) {
				t.Errorf("%d %s, want %d containing %s", w.Code, w.Body, tc.want, tc.contains)
			}
		})
	}
	// Inference stores nothing.
	if n := e.count(t, `SELECT count(*) FROM predictions`); n != 0 {
		t.Errorf("inference stored %d predictions", n)
	}
}

func FuzzDecodeInferRequest(f *testing.F) {
	f.Add([]byte(`{"inputs":[{"name":"features","datatype":"FP64","shape":[1,42],"data":[[1,2]]}]}`))
	f.Add([]byte(`{"inputs":[{"name":"sample_id","datatype":"BYTES","shape":[2],"data":["a","b"]},{"name":"device_id","shape":[2],"data":["x","y"]}]}`))
	f.Add([]byte(`{"inputs":[{"name":"features","shape":[1000000000,1000000000],"data":[]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, in, err := predict.DecodeInferRequest(b)
		if err != nil {
			return
		}
		if in.Features != nil && len(in.Features) != in.Rows*features.Len() {
			t.Fatalf("%d features for %d rows", len(in.Features), in.Rows)
		}
		if in.SampleIDs != nil && len(in.SampleIDs) != in.Rows {
			t.Fatalf("%d sample ids for %d rows", len(in.SampleIDs), in.Rows)
		}
	})
}
