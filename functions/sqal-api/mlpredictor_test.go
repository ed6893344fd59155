package sqalapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/ml/synth"
	"github.com/sqalfn/sqal/shared/testenv"
)

// TestPredictWithModel: POST /api/sqal/predict keeps its legacy shape, backed by the
// active model; repeating the call returns the same stored prediction.
func TestPredictWithModel(t *testing.T) {
	db := testenv.DB(t)
	s := synth.New(1).Next()
	if err := synth.Insert(context.Background(), db, []synth.Sample{s}, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	sdb := database.NewDB(db)
	h, err := New(sdb, Options{Predictor: NewMLPredictor(sdb, nil)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 2; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/sqal/predict?sample_id="+s.SampleID, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, w.Code, w.Body)
		}
		var got struct {
			PredictionID string `json:"prediction_id"`
			ModelName    string `json:"model_name"`
			ModelVersion string `json:"model_version"`
			Grade        string `json:"grade"`
			Explanations struct {
				Source        string            `json:"source"`
				Contributions []json.RawMessage `json:"contributions"`
			} `json:"explanations"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.ModelName != "sqal-quality" || got.ModelVersion != "0" || got.Grade != s.FinalGrade ||
			got.Explanations.Source != "model" || len(got.Explanations.Contributions) == 0 {
			t.Fatalf("call %d: %s", i, w.Body)
		}
		ids = append(ids, got.PredictionID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("two calls stored two predictions: %v", ids)
	}
}
