package train_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/functions/train"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/ml/synth"
	"github.com/sqalfn/sqal/shared/testenv"
)

func setup(t *testing.T, n int) (*pgxpool.Pool, *train.Trainer) {
	t.Helper()
	db := testenv.DB(t)
	if err := synth.Insert(context.Background(), db, synth.New(5).Batch(n), time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	return db, train.New(database.NewDB(db), train.Config{MaxSamples: 5000}, nil)
}

func newJob(t *testing.T, db *pgxpool.Pool, modelType string, epochs int, autoPromote bool, cfg string) string {
	t.Helper()
	var id string
	if err := db.QueryRow(context.Background(), `INSERT INTO training_jobs (model_type, total_epochs, auto_promote, config)
		VALUES ($1, $2, $3, $4) RETURNING id::text`, modelType, epochs, autoPromote, cfg).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func requested(jobID string) cloudevents.Event {
	e := cloudevents.NewEvent()
	e.SetID(jobID)
	e.SetType(ml.TypeTrainingRequested)
	e.SetSource(ml.SourceAIAPI)
	_ = e.SetData(cloudevents.ApplicationJSON, ml.TrainingRequested{JobID: jobID})
	return e
}

type jobRow struct {
	Status, Phase    string
	Progress         float64
	Epoch, Total     int
	Accuracy, ValAcc *float64
	ModelID, Error   *string
	Promoted         *bool
	PromotionReason  *string
}

func readJob(t *testing.T, db *pgxpool.Pool, id string) jobRow {
	t.Helper()
	var j jobRow
	if err := db.QueryRow(context.Background(), `SELECT status, phase, progress_percent, current_epoch, total_epochs,
		accuracy, val_accuracy, model_id::text, error_message, promoted, promotion_reason FROM training_jobs WHERE id = $1`, id).
		Scan(&j.Status, &j.Phase, &j.Progress, &j.Epoch, &j.Total, &j.Accuracy, &j.ValAcc, &j.ModelID, &j.Error,
			&j.Promoted, &j.PromotionReason); err != nil {
		t.Fatal(err)
	}
	return j
}

func count(t *testing.T, db *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestJobRegistersACandidateWithMetrics(t *testing.T) {
	db, tr := setup(t, 2000)
	ctx := context.Background()
	id := newJob(t, db, ml.TypeFusion, 20, false, `{"batch_size": 32, "learning_rate": 0.05}`)
	if err := tr.Handle(ctx, requested(id)); err != nil {
		t.Fatal(err)
	}
	j := readJob(t, db, id)
	if j.Status != "completed" || j.Progress != 100 || j.Epoch != 20 || j.ModelID == nil || j.ValAcc == nil {
		t.Fatalf("job after run: %+v (error %v)", j, deref(j.Error))
	}
	if *j.ValAcc < 0.8 {
		t.Errorf("held-out accuracy %.3f < 0.80", *j.ValAcc)
	}
	reg := &ml.Registry{DB: db, Store: ml.PGStore{DB: db}}
	rec, err := reg.Get(ctx, nil, *j.ModelID)
	if err != nil {
		t.Fatal(err)
	}
	var metrics struct{ Test ml.Metrics }
	if err := json.Unmarshal(rec.Metrics, &metrics); err != nil {
		t.Fatal(err)
	}
	if rec.Status != ml.StatusCandidate || rec.DatasetHash == nil || metrics.Test.N == 0 || len(metrics.Test.Confusion) != 5 {
		t.Fatalf("registered %s v%s status %s metrics %+v", rec.Name, rec.Version, rec.Status, metrics.Test)
	}
	if _, err := reg.Load(ctx, rec); err != nil {
		t.Fatalf("registered artefact does not load: %v", err)
	}
	if n := count(t, db, `SELECT count(*) FROM event_outbox WHERE type = $1 AND event_id = $2`, ml.TypeModelTrained, rec.ID); n != 1 {
		t.Fatalf("%d sqal.model.trained events", n)
	}
	if n := count(t, db, `SELECT count(*) FROM datasets WHERE id::text = $1 AND total_samples = 2000`, deref(rec.DatasetID)); n != 1 {
		t.Fatal("dataset row missing")
	}
	// A redelivered event does nothing.
	if err := tr.Handle(ctx, requested(id)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM ai_models WHERE name = $1`, ml.QualityModel); n != 2 {
		t.Fatalf("%d versions after a redelivered event, want v0 and v1", n)
	}
}

func TestAutoPromotionOnlyWhenBetterOnTheSameHeldOutData(t *testing.T) {
	db, tr := setup(t, 600)
	ctx := context.Background()
	reg := &ml.Registry{DB: db, Store: ml.PGStore{DB: db}, Outbox: events.AddToOutbox, Source: ml.SourceTrain}

	// The seeded v0 applies the very rule that labels generated data: nothing beats it.
	id := newJob(t, db, ml.TypeFusion, 5, true, `{"no_histograms": true}`)
	if err := tr.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	if j := readJob(t, db, id); j.Promoted == nil || *j.Promoted || j.PromotionReason == nil {
		t.Fatalf("promoted over a perfect active model: %+v", j)
	}
	if a, _ := reg.Active(ctx, nil, ml.QualityModel); a.Version != "0" {
		t.Fatalf("active is v%s", a.Version)
	}

	// Against a weak active version (one epoch, tiny set), a full run is promoted.
	d, _, err := ml.LoadDataset(ctx, db, features.Loader{}, features.Window{Limit: 30})
	if err != nil {
		t.Fatal(err)
	}
	weak, err := ml.Train(ctx, d, ml.TrainConfig{Epochs: 1, LearningRate: 1e-4, NoHistograms: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var weakRec ml.Record
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		weakRec, err = reg.Register(ctx, tx, ml.Candidate{Model: weak, Samples: d.Len()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Activate(ctx, weakRec.ID, "test"); err != nil {
		t.Fatal(err)
	}
	id = newJob(t, db, ml.TypeFusion, 10, true, `{"no_histograms": true}`)
	if err := tr.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	j := readJob(t, db, id)
	if j.Promoted == nil || !*j.Promoted {
		t.Fatalf("not promoted over a weak model: %+v reason %s", j, deref(j.PromotionReason))
	}
	if a, _ := reg.Active(ctx, nil, ml.QualityModel); a.ID != deref(j.ModelID) {
		t.Fatalf("active is v%s, want the new version", a.Version)
	}
	if n := count(t, db, `SELECT count(*) FROM event_outbox WHERE type = $1`, ml.TypeModelActivated); n != 2 {
		t.Fatalf("%d activation events, want 2", n)
	}
}

func TestJobFailures(t *testing.T) {
	db, tr := setup(t, 10)
	ctx := context.Background()
	id := newJob(t, db, ml.TypeFusion, 2, false, `{}`)
	if err := tr.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	if j := readJob(t, db, id); j.Status != "failed" || j.Error == nil {
		t.Fatalf("too few samples: %+v", j)
	}
	if err := tr.Handle(ctx, requested("00000000-0000-0000-0000-000000000000")); !events.IsPermanent(err) {
		t.Fatalf("unknown job: %v, want a permanent error", err)
	}
	bad := cloudevents.NewEvent()
	bad.SetID("x")
	bad.SetType(ml.TypeTrainingRequested)
	bad.SetSource("t")
	_ = bad.SetData(cloudevents.ApplicationJSON, "nope")
	if err := tr.Handle(ctx, bad); !events.IsPermanent(err) {
		t.Fatalf("bad data: %v, want a permanent error", err)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
