package train_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sqalfn/sqal/functions/train"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/ml/synth"
	"github.com/sqalfn/sqal/shared/tenant"
	"github.com/sqalfn/sqal/shared/testenv"
)

const (
	orgA = "0a000000-0000-4000-8000-00000000000a"
	orgB = "0b000000-0000-4000-8000-00000000000b"
)

// TestTenantIsolationTrainSeesEveryOrganisation: the one quality model learns from every
// organisation's samples and operator labels, whichever organisation requested the job:
// on the application role (row-level security), a job requested by A trains on A's and
// B's samples, while A's own scope shows A's samples only.
func TestTenantIsolationTrainSeesEveryOrganisation(t *testing.T) {
	app, owner := testenv.AppDB(t)
	ctx := context.Background()
	if _, err := owner.Exec(ctx, `INSERT INTO organizations (id, name, type) VALUES ($1, 'Org A', 'enterprise'), ($2, 'Org B', 'enterprise')`, orgA, orgB); err != nil {
		t.Fatal(err)
	}
	const perOrg = 300
	samples := map[string][]synth.Sample{}
	for org, seed := range map[string]uint64{orgA: 5, orgB: 7} {
		s := synth.New(seed).Batch(perOrg)
		for i := range s {
			s[i].SampleID = org[:2] + "-" + s[i].SampleID // 0a-SY-..., 0b-SY-...
		}
		samples[org] = s
		// COPY needs the owner (row-level security refuses it to the application role).
		if err := synth.InsertIn(ctx, owner, org, s, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := owner.Exec(ctx, `INSERT INTO sample_labels (sample_id, grade, organization_id) VALUES ($1, 'REJECT', $2), ($3, 'REJECT', $4)`,
		samples[orgA][0].SampleID, orgA, samples[orgB][0].SampleID, orgB); err != nil {
		t.Fatal(err)
	}
	db := database.NewDB(app)

	// A's scope shows A's samples and label only (the scope the job's event carries).
	_, info, err := ml.LoadDataset(tenant.With(ctx, tenant.Org(orgA)), db, features.Loader{}, features.Window{})
	if err != nil || info.Total != perOrg || info.OperatorLabelled != 1 {
		t.Fatalf("dataset in A's scope: %+v %v, want %d samples, 1 label", info, err, perOrg)
	}

	var jobID string
	if err := owner.QueryRow(ctx, `INSERT INTO training_jobs (model_type, total_epochs, config) VALUES ($1, 3, '{"no_histograms": true}')
		RETURNING id::text`, ml.TypeFusion).Scan(&jobID); err != nil {
		t.Fatal(err)
	}
	e := requested(jobID)
	e.SetExtension(tenant.EventExtension, orgA) // requested by A (ai-api stamps it)
	tr := train.New(db, train.Config{MaxSamples: 5000}, nil)
	if err := tr.Handle(ctx, e); err != nil {
		t.Fatal(err)
	}
	j := readJob(t, owner, jobID)
	if j.Status != "completed" || j.ModelID == nil {
		t.Fatalf("job: %+v (error %s)", j, deref(j.Error))
	}
	var total, trainN, testN int
	var stats []byte
	if err := owner.QueryRow(ctx, `SELECT d.total_samples, d.train_samples, d.val_samples, d.statistics
		FROM datasets d JOIN training_jobs j ON j.dataset_id = d.id WHERE j.id = $1`, jobID).Scan(&total, &trainN, &testN, &stats); err != nil {
		t.Fatal(err)
	}
	if total != 2*perOrg || trainN+testN != 2*perOrg {
		t.Fatalf("training set of %d samples (%d + %d), want both organisations' %d", total, trainN, testN, 2*perOrg)
	}
	var st struct {
		OperatorLabelled int `json:"operator_labelled"`
	}
	if err := json.Unmarshal(stats, &st); err != nil || st.OperatorLabelled != 2 {
		t.Fatalf("operator labels used: %s (%v), want both organisations' 2", stats, err)
	}
	if n := count(t, owner, `SELECT count(*) FROM ai_models WHERE id::text = $1 AND train_samples = $2`, *j.ModelID, 2*perOrg); n != 1 {
		t.Fatal("registered model does not record both organisations' samples")
	}
	// The model is global: its event names no organisation.
	if n := count(t, owner, `SELECT count(*) FROM event_outbox WHERE type = $1 AND event_id = $2 AND attributes->>'organizationid' IS NULL`,
		ml.TypeModelTrained, *j.ModelID); n != 1 {
		t.Fatal("sqal.model.trained missing or bound to an organisation")
	}
}
