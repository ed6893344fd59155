package ml_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/ml/synth"
	"github.com/sqalfn/sqal/shared/testenv"
)

type fixture struct {
	db      *pgxpool.Pool
	reg     *ml.Registry
	svc     *ml.Service
	samples []synth.Sample
}

func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	db := testenv.DB(t)
	ctx := context.Background()
	samples := synth.New(11).Batch(n)
	if err := synth.Insert(ctx, db, samples, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	reg := &ml.Registry{DB: db, Store: ml.PGStore{DB: db}, Outbox: events.AddToOutbox, Source: ml.SourceTrain}
	return &fixture{db: db, reg: reg, svc: &ml.Service{Registry: reg, Source: ml.SourcePredict, TTL: time.Hour}, samples: samples}
}

// register trains a candidate on the stored samples and registers it.
func (f *fixture) register(t *testing.T, epochs int) ml.Record {
	t.Helper()
	ctx := context.Background()
	d, _, err := ml.LoadDataset(ctx, f.db, features.Loader{}, features.Window{})
	if err != nil {
		t.Fatal(err)
	}
	train, test := d.Split(ml.HoldOut)
	m, err := ml.Train(ctx, train, ml.TrainConfig{Epochs: epochs, NoHistograms: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mt, err := ml.Evaluate(m, test)
	if err != nil {
		t.Fatal(err)
	}
	var rec ml.Record
	err = pgx.BeginFunc(ctx, f.db, func(tx pgx.Tx) error {
		rec, err = f.reg.Register(ctx, tx, ml.Candidate{Model: m, Test: mt, Samples: d.Len(), DatasetHash: d.Hash()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != ml.StatusCandidate {
		t.Fatalf("new version has status %s", rec.Status)
	}
	return rec
}

func (f *fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestActivatingAVersionSwitchesLivePredictions(t *testing.T) {
	f := newFixture(t, 300)
	ctx := context.Background()

	// Before any training the seeded rules model v0 serves.
	p0, err := f.svc.PredictSample(ctx, ml.QualityModel, f.samples[0].SampleID, "event")
	if err != nil {
		t.Fatal(err)
	}
	if p0.ModelVersion != "0" || !p0.Created {
		t.Fatalf("first prediction by %s v%s (created %v), want the seeded v0", p0.ModelName, p0.ModelVersion, p0.Created)
	}

	v1 := f.register(t, 5)
	if v1.Version != "1" {
		t.Fatalf("first trained version is %q, want 1", v1.Version)
	}
	// A candidate does not serve.
	f.svc.Refresh(ctx, ml.QualityModel)
	if p, _ := f.svc.PredictSample(ctx, ml.QualityModel, f.samples[1].SampleID, "event"); p.ModelVersion != "0" {
		t.Fatalf("candidate served before activation: v%s", p.ModelVersion)
	}

	if _, err := f.reg.Activate(ctx, v1.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Refresh(ctx, ml.QualityModel); err != nil { // what predict does on sqal.model.activated
		t.Fatal(err)
	}
	p2, err := f.svc.PredictSample(ctx, ml.QualityModel, f.samples[2].SampleID, "event")
	if err != nil {
		t.Fatal(err)
	}
	if p2.ModelVersion != "1" || p2.ModelID != v1.ID {
		t.Fatalf("after activation predicted by v%s, want v1", p2.ModelVersion)
	}
	if p2.Anomaly == nil || len(p2.Explanation.Contributions) == 0 {
		t.Fatalf("trained model prediction lacks explanation or anomaly verdict: %+v", p2)
	}
	if n := f.count(t, `SELECT count(*) FROM ai_models WHERE name = $1 AND status = 'active'`, ml.QualityModel); n != 1 {
		t.Fatalf("%d active versions", n)
	}
	// The seeded v0 was archived, and the activation was announced.
	if n := f.count(t, `SELECT count(*) FROM event_outbox WHERE type = $1`, ml.TypeModelActivated); n != 1 {
		t.Fatalf("%d activation events", n)
	}

	// Rollback goes back to v0, in one step.
	back, err := f.reg.Rollback(ctx, ml.QualityModel)
	if err != nil {
		t.Fatal(err)
	}
	if back.Version != "0" {
		t.Fatalf("rollback activated v%s, want v0", back.Version)
	}
	f.svc.Refresh(ctx, ml.QualityModel)
	if p, _ := f.svc.PredictSample(ctx, ml.QualityModel, f.samples[3].SampleID, "event"); p.ModelVersion != "0" {
		t.Fatalf("after rollback predicted by v%s", p.ModelVersion)
	}

	// Deactivating leaves no active version; the baseline still serves.
	if _, err := f.reg.Deactivate(ctx, back.ID); err != nil {
		t.Fatal(err)
	}
	f.svc.Refresh(ctx, ml.QualityModel)
	if p, err := f.svc.PredictSample(ctx, ml.QualityModel, f.samples[4].SampleID, "event"); err != nil || p.ModelVersion != "0" {
		t.Fatalf("without an active version: v%s, %v", p.ModelVersion, err)
	}
}

func TestDatabaseAllowsOneActiveVersionPerName(t *testing.T) {
	f := newFixture(t, 100)
	v1 := f.register(t, 1)
	_, err := f.db.Exec(context.Background(), `UPDATE ai_models SET status = 'active' WHERE id = $1`, v1.ID)
	if err == nil || !strings.Contains(err.Error(), "ai_models_one_active_per_name") {
		t.Fatalf("second active version accepted: %v", err)
	}
}

func TestRepeatedPredictionIsStoredOnce(t *testing.T) {
	f := newFixture(t, 50)
	ctx := context.Background()
	id := f.samples[7].SampleID
	first, err := f.svc.PredictSample(ctx, ml.QualityModel, id, "event")
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.PredictSample(ctx, ml.QualityModel, id, "event")
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.PredictionID != first.PredictionID || again.Score != first.Score {
		t.Fatalf("second call: created %v id %s (first %s)", again.Created, again.PredictionID, first.PredictionID)
	}
	if n := f.count(t, `SELECT count(*) FROM predictions WHERE sample_id = $1`, id); n != 1 {
		t.Fatalf("%d predictions stored", n)
	}
	if n := f.count(t, `SELECT count(*) FROM event_outbox WHERE type = $1 AND event_id = $2`,
		ml.TypePredictionCreated, ml.PredictionEventID(id, ml.QualityModel, "0")); n != 1 {
		t.Fatalf("%d prediction events", n)
	}
	if _, err := f.svc.PredictSample(ctx, ml.QualityModel, "no-such-sample", "api"); !errors.Is(err, features.ErrSampleNotFound) {
		t.Fatalf("unknown sample: %v", err)
	}
}

func TestCorruptArtefactIsRefusedAndActiveKeepsServing(t *testing.T) {
	f := newFixture(t, 200)
	ctx := context.Background()
	v1 := f.register(t, 3)
	if _, err := f.reg.Activate(ctx, v1.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Refresh(ctx, ml.QualityModel); err != nil {
		t.Fatal(err)
	}
	corrupt := func(id string) {
		if _, err := f.db.Exec(ctx, `UPDATE ai_model_artefacts SET data = overlay(data placing '\xdeadbeef'::bytea from 60)
			WHERE model_id = $1`, id); err != nil {
			t.Fatal(err)
		}
	}

	// Activation of a corrupt version is refused; v1 stays active.
	v2 := f.register(t, 3)
	corrupt(v2.ID)
	_, err := f.reg.Activate(ctx, v2.ID, "test")
	if !errors.Is(err, ml.ErrCorruptArtefact) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("activating a corrupt artefact: %v", err)
	}
	if a, _ := f.reg.Active(ctx, nil, ml.QualityModel); a.ID != v1.ID {
		t.Fatalf("active is %s v%s after a refused activation", a.Name, a.Version)
	}

	// A version whose artefact is damaged after activation is refused by the serving
	// cache, which keeps the model it has.
	v3 := f.register(t, 3)
	if _, err := f.reg.Activate(ctx, v3.ID, "test"); err != nil {
		t.Fatal(err)
	}
	corrupt(v3.ID)
	if err := f.svc.Refresh(ctx, ml.QualityModel); !errors.Is(err, ml.ErrCorruptArtefact) {
		t.Fatalf("refresh onto a corrupt artefact: %v", err)
	}
	p, err := f.svc.PredictSample(ctx, ml.QualityModel, f.samples[0].SampleID, "event")
	if err != nil {
		t.Fatal(err)
	}
	if p.ModelVersion != v1.Version {
		t.Fatalf("served v%s, want v%s to keep serving", p.ModelVersion, v1.Version)
	}
	served, _ := f.svc.Model(ctx, ml.QualityModel)
	if served.Err == nil {
		t.Fatal("the refused version is not reported")
	}
}

func TestFreshServiceFallsBackToBaselineOnACorruptActiveArtefact(t *testing.T) {
	f := newFixture(t, 100)
	ctx := context.Background()
	v1 := f.register(t, 1)
	if _, err := f.reg.Activate(ctx, v1.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(ctx, `UPDATE ai_model_artefacts SET data = 'garbage' WHERE model_id = $1`, v1.ID); err != nil {
		t.Fatal(err)
	}
	fresh := &ml.Service{Registry: f.reg, TTL: time.Hour}
	if err := fresh.Refresh(ctx, ml.QualityModel); !errors.Is(err, ml.ErrCorruptArtefact) {
		t.Fatalf("refresh: %v", err)
	}
	served, err := fresh.Model(ctx, ml.QualityModel)
	if err != nil || served.Model.Version != "0" || served.Err == nil {
		t.Fatalf("served %+v, %v", served, err)
	}
}
