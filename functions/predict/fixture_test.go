package predict_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sqalfn/sqal/functions/predict"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/sample"
	"github.com/sqalfn/sqal/shared/sample/fixtures"
	"github.com/sqalfn/sqal/shared/testenv"
)

// TestCapturedFrameGetsAPrediction stores the captured simulator frames the way ingest
// does (validated columns + compressed raw frame), delivers sqal.sample.stored, and
// checks the stored prediction and its explanation.
func TestCapturedFrameGetsAPrediction(t *testing.T) {
	db := testenv.DB(t)
	ctx := context.Background()
	srv, err := predict.New(ctx, database.NewDB(db), predict.Config{Models: []string{ml.QualityModel}, RefreshInterval: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, srv: srv}
	for _, name := range []string{fixtures.Sample1, fixtures.Sample2} {
		frame := fixtures.Load(t, name)
		f, err := sample.Decode(frame)
		if err != nil {
			t.Fatal(err)
		}
		s, err := f.Sample()
		if err != nil {
			t.Fatal(err)
		}
		raw, enc := sample.EncodeRaw(nil, frame)
		ph := make([]string, len(sample.Columns))
		for i := range ph {
			ph[i] = fmt.Sprintf("$%d", i+1)
		}
		if _, err := db.Exec(ctx, `INSERT INTO sensor_samples ("`+strings.Join(sample.Columns, `", "`)+`") VALUES (`+
			strings.Join(ph, ", ")+`)`, s.Row(raw, enc)...); err != nil {
			t.Fatal(err)
		}
		site := "MT"
		w := e.do(binaryEvent(sample.TypeStored, s.SampleID, sample.StoredEvent{SampleID: s.SampleID, DeviceID: s.DeviceID, SiteCode: &site}))
		if w.Code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", name, w.Code, w.Body)
		}
		var grade, summary string
		var score float64
		if err := db.QueryRow(ctx, `SELECT grade, score, explanations->>'summary' FROM predictions WHERE sample_id = $1`,
			s.SampleID).Scan(&grade, &score, &summary); err != nil {
			t.Fatal(err)
		}
		// The v0 rules model reproduces the device's fusion grade on both captures.
		if grade != s.Fusion.FinalGrade || summary == "" {
			t.Errorf("%s: predicted %s %.3f, device said %s %.3f; summary %q", name, grade, score, s.Fusion.FinalGrade, s.Fusion.FinalScore, summary)
		}
		var site2 string
		if err := db.QueryRow(ctx, `SELECT attributes->>'sqalsite' FROM event_outbox WHERE type = $1 AND subject = $2`,
			ml.TypePredictionCreated, s.SampleID).Scan(&site2); err != nil || site2 != "MT" {
			t.Errorf("prediction event site %q, %v", site2, err)
		}
	}
}
