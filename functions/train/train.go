// Package train is the train step: it consumes sqal.training.requested (emitted by
// POST /api/ai/training/), runs the job — load the labelled samples, split, fit, evaluate
// on the held-out split — with its progress (percent, phase, epoch) visible in
// training_jobs, registers the new candidate version with its metrics and emits
// sqal.model.trained. When the job asked for it, and only if the candidate beats the
// active version on the same held-out samples, it also activates it (sqal.model.activated),
// in the same transaction as the registration.
//
// Idempotency: the job row is the record. A job is claimed once (pending -> running);
// a redelivered event for a running, completed or failed job does nothing, except that
// a running job whose heartbeat is older than the lease (its pod died) is taken over.
package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/sqalfn/sqal/shared/config"
	"github.com/sqalfn/sqal/shared/database"
	"github.com/sqalfn/sqal/shared/events"
	"github.com/sqalfn/sqal/shared/features"
	"github.com/sqalfn/sqal/shared/ml"
	"github.com/sqalfn/sqal/shared/runtime"
	"github.com/sqalfn/sqal/shared/tenant"
)

// Function is the train step.
var Function = runtime.Function{
	Target:  "Train",
	Service: "train",
	Needs:   runtime.Needs{DB: true, Outbox: true},
	Event:   setup,
}

func init() { runtime.Register(Function) }

// Config is read from the environment.
type Config struct {
	// MaxSamples caps the samples of one run (newest first): it bounds memory and time
	// within the Knative request timeout.
	MaxSamples int `env:"TRAIN_MAX_SAMPLES, default=20000"`
	// Lease is how long a running job may go without a heartbeat before a redelivered
	// event takes it over (its pod is presumed dead).
	Lease time.Duration `env:"TRAIN_LEASE, default=10m"`
}

func setup(ctx context.Context, env *runtime.Env) (runtime.EventHandler, error) {
	var cfg Config
	if err := config.Load(ctx, env.Lookup, &cfg); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if env.DB == nil {
		return nil, errors.New("train: database pool required")
	}
	return New(env.DB, cfg, env.Logger).Handle, nil
}

// Trainer runs training jobs.
type Trainer struct {
	db  *database.DB
	cfg Config
	reg *ml.Registry
	log *slog.Logger
}

// New returns a Trainer. Jobs, datasets and the registry are global (no organisation);
// the samples and labels a job learns from are every organisation's (Run).
func New(db *database.DB, cfg Config, logger *slog.Logger) *Trainer {
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = 20000
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 10 * time.Minute
	}
	return &Trainer{db: db, cfg: cfg, log: logger,
		reg: &ml.Registry{DB: db, Store: ml.PGStore{DB: db}, Outbox: events.AddToOutbox, Source: ml.SourceTrain}}
}

// Handle processes one sqal.training.requested event.
func (t *Trainer) Handle(ctx context.Context, e cloudevents.Event) error {
	if e.Type() != ml.TypeTrainingRequested {
		return events.Permanent(fmt.Errorf("train: unexpected event type %q", e.Type()))
	}
	var d ml.TrainingRequested
	if err := json.Unmarshal(e.Data(), &d); err != nil || d.JobID == "" {
		return events.Permanent(fmt.Errorf("train: event %s: data must be {\"job_id\": ...}: %v", e.ID(), err))
	}
	return t.Run(ctx, d.JobID)
}

// JobConfig is training_jobs.config: the dashboard's fields and the options of a run.
type JobConfig struct {
	BatchSize    *int       `json:"batch_size,omitempty"`
	LearningRate *float64   `json:"learning_rate,omitempty"`
	NoHistograms bool       `json:"no_histograms,omitempty"`
	From         *time.Time `json:"from,omitempty"`
	To           *time.Time `json:"to,omitempty"`
	MaxSamples   int        `json:"max_samples,omitempty"`
	Seed         uint64     `json:"seed,omitempty"`
}

type job struct {
	ID          string
	ModelType   string
	Epochs      int
	Config      JobConfig
	AutoPromote bool
}

// ErrJobNotFound is returned for an event naming an unknown job.
var ErrJobNotFound = errors.New("training job not found")

// Run claims and runs one job. It returns nil when the job is not claimable (already
// running elsewhere, completed or failed): the event is then a duplicate.
//
// The job runs in the cross-organisation scope, whatever organisation asked for it (the
// event's organizationid): there is one quality model for every organisation, trained
// on every organisation's samples and operator labels. Nothing it writes is tenant data
// (training_jobs, datasets, ai_models), and its model events name no organisation.
func (t *Trainer) Run(ctx context.Context, jobID string) error {
	ctx = tenant.With(ctx, tenant.All())
	j, claimed, err := t.claim(ctx, jobID)
	if err != nil {
		return err
	}
	if !claimed {
		return nil
	}
	log := t.log.With("job_id", j.ID, "model_type", j.ModelType)
	log.InfoContext(ctx, "training started", "epochs", j.Epochs)
	if err := t.run(ctx, j); err != nil {
		log.ErrorContext(ctx, "training failed", "err", err)
		// The failure is recorded on the job (the dashboard shows it); the event is
		// acknowledged: a new job is the way to retry, with the cause fixed.
		msg := err.Error()
		if len(msg) > 1000 {
			msg = msg[:1000]
		}
		if _, uerr := t.db.Exec(context.WithoutCancel(ctx), `UPDATE training_jobs SET status = 'failed',
			phase = 'failed', error_message = $2, completed_at = now(), heartbeat_at = now() WHERE id = $1`, j.ID, msg); uerr != nil {
			return fmt.Errorf("record failure of job %s (%v): %w", j.ID, err, uerr)
		}
		return nil
	}
	log.InfoContext(ctx, "training completed")
	return nil
}

func (t *Trainer) claim(ctx context.Context, jobID string) (job, bool, error) {
	var j job
	var cfg []byte
	err := t.db.QueryRow(ctx, `UPDATE training_jobs SET status = 'running', phase = 'loading', progress_percent = 1,
			started_at = COALESCE(started_at, now()), heartbeat_at = now(), error_message = NULL
		WHERE id::text = $1 AND (status = 'pending' OR (status = 'running' AND heartbeat_at < now() - $2::interval))
		RETURNING id::text, model_type, total_epochs, config, auto_promote`, jobID, t.cfg.Lease.String()).
		Scan(&j.ID, &j.ModelType, &j.Epochs, &cfg, &j.AutoPromote)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := t.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM training_jobs WHERE id::text = $1)`, jobID).Scan(&exists); err != nil {
			return j, false, fmt.Errorf("look up job %s: %w", jobID, err)
		}
		if !exists {
			return j, false, events.Permanent(fmt.Errorf("job %s: %w", jobID, ErrJobNotFound))
		}
		return j, false, nil
	}
	if err != nil {
		return j, false, fmt.Errorf("claim job %s: %w", jobID, err)
	}
	if err := json.Unmarshal(cfg, &j.Config); err != nil {
		j.Config = JobConfig{} // unknown shapes in config are the dashboard's business
	}
	return j, true, nil
}

// progress writes the job's progress; phases are queued, loading, training, evaluating,
// registering, completed (or failed).
func (t *Trainer) progress(ctx context.Context, id, phase string, percent float64, epoch int, loss *float64) error {
	_, err := t.db.Exec(ctx, `UPDATE training_jobs SET phase = $2, progress_percent = $3,
		current_epoch = GREATEST(current_epoch, $4), loss = COALESCE($5, loss), heartbeat_at = now() WHERE id = $1`,
		id, phase, math.Min(100, math.Max(0, percent)), epoch, loss)
	if err != nil {
		return fmt.Errorf("report progress of job %s: %w", id, err)
	}
	return nil
}

func (t *Trainer) run(ctx context.Context, j job) error {
	if _, err := ml.FeaturesForType(j.ModelType); err != nil {
		return err
	}
	limit := t.cfg.MaxSamples
	if j.Config.MaxSamples > 0 && j.Config.MaxSamples < limit {
		limit = j.Config.MaxSamples
	}
	w := features.Window{Limit: limit}
	if j.Config.From != nil {
		w.From = *j.Config.From
	}
	if j.Config.To != nil {
		w.To = *j.Config.To
	}
	loader := features.Loader{Histograms: !j.Config.NoHistograms}
	data, info, err := ml.LoadDataset(ctx, t.db, loader, w)
	if err != nil {
		return err
	}
	train, test := data.Split(ml.HoldOut)
	if test.Len() == 0 || train.Len() < ml.MinSamples {
		return fmt.Errorf("%w: %d stored samples usable (%d skipped), need at least %d for training plus a held-out set",
			ml.ErrTooFewSamples, data.Len(), info.Skipped, ml.MinSamples+5)
	}
	if err := t.progress(ctx, j.ID, "training", 20, 0, nil); err != nil {
		return err
	}
	cfg := ml.TrainConfig{Type: j.ModelType, Epochs: j.Epochs, NoHistograms: j.Config.NoHistograms, Seed: j.Config.Seed}
	if j.Config.BatchSize != nil {
		cfg.BatchSize = *j.Config.BatchSize
	}
	if j.Config.LearningRate != nil {
		cfg.LearningRate = *j.Config.LearningRate
	}
	var lastWrite time.Time
	var progressErr error
	model, err := ml.Train(ctx, train, cfg, func(epoch, total int, loss float64) {
		// The dashboard polls every 5 s: a write per second at most is plenty.
		if epoch != total && time.Since(lastWrite) < time.Second {
			return
		}
		lastWrite = time.Now()
		var l *float64
		if !math.IsNaN(loss) {
			l = &loss
		}
		if err := t.progress(ctx, j.ID, "training", 20+70*float64(epoch)/float64(max(total, 1)), epoch, l); err != nil {
			progressErr = err
		}
	})
	if err != nil {
		return err
	}
	if progressErr != nil {
		return progressErr
	}
	if err := t.progress(ctx, j.ID, "evaluating", 92, j.Epochs, nil); err != nil {
		return err
	}
	trainM, err := ml.Evaluate(model, train)
	if err != nil {
		return err
	}
	testM, err := ml.Evaluate(model, test)
	if err != nil {
		return err
	}
	if err := t.progress(ctx, j.ID, "registering", 97, j.Epochs, nil); err != nil {
		return err
	}
	hash := data.Hash()
	return pgx.BeginFunc(ctx, t.db, func(tx pgx.Tx) error {
		stats, _ := json.Marshal(map[string]any{"grades": info.Grades, "operator_labelled": info.OperatorLabelled,
			"skipped": info.Skipped, "feature_version": features.Version, "histograms": loader.Histograms})
		labels, _ := json.Marshal(ml.Grades)
		var datasetID string
		err := tx.QueryRow(ctx, `INSERT INTO datasets (name, description, total_samples, train_samples, val_samples,
				test_samples, storage_path, labels, statistics, dataset_hash, window_from, window_to)
			VALUES ($1, $2, $3, $4, $5, 0, 'postgresql:sensor_samples', $6, $7, $8, $9, $10) RETURNING id::text`,
			fmt.Sprintf("%s %s", j.ModelType, time.Now().UTC().Format("2006-01-02 15:04")),
			fmt.Sprintf("Échantillons stockés, étiquettes opérateur prioritaires (%d), sinon grade de fusion; %.0f %% retenus pour l'évaluation",
				info.OperatorLabelled, ml.HoldOut*100),
			data.Len(), train.Len(), test.Len(), labels, stats, hash, info.From, info.To).Scan(&datasetID)
		if err != nil {
			return fmt.Errorf("record dataset: %w", err)
		}
		rec, err := t.reg.Register(ctx, tx, ml.Candidate{Model: model, Train: trainM, Test: testM, Config: cfg,
			From: info.From, To: info.To, Samples: data.Len(), DatasetHash: hash, DatasetID: &datasetID, TrainingJobID: &j.ID})
		if err != nil {
			return err
		}
		var promoted *bool
		reason := ""
		if j.AutoPromote {
			p, why, err := t.promote(ctx, tx, rec, model, test, testM)
			if err != nil {
				return err
			}
			promoted, reason = &p, why
		}
		_, err = tx.Exec(ctx, `UPDATE training_jobs SET status = 'completed', phase = 'completed', progress_percent = 100,
				current_epoch = total_epochs, accuracy = $2, val_accuracy = $3, loss = $4, val_loss = $5, model_id = $6,
				dataset_id = $7, promoted = $8, promotion_reason = NULLIF($9, ''), completed_at = now(), heartbeat_at = now(),
				logs = logs || jsonb_build_array(jsonb_build_object('time', now(), 'message', $10::text))
			WHERE id = $1`,
			j.ID, trainM.Accuracy, testM.Accuracy, trainM.LogLoss, testM.LogLoss, rec.ID, datasetID, promoted, reason,
			fmt.Sprintf("version %s enregistrée: exactitude %.3f, F1 macro %.3f, MAE %.4f sur %d échantillons retenus",
				rec.Version, testM.Accuracy, testM.MacroF1, testM.MAE, test.Len()))
		if err != nil {
			return fmt.Errorf("complete job %s: %w", j.ID, err)
		}
		return nil
	})
}

// promote activates the candidate only if it beats the active version evaluated on the
// same held-out samples (the active model is re-evaluated now, not trusted from its own
// stored metrics, which come from another split of other data).
func (t *Trainer) promote(ctx context.Context, tx pgx.Tx, rec ml.Record, cand *ml.Model, test ml.Dataset, candM ml.Metrics) (bool, string, error) {
	var active *ml.Model
	activeRec, err := t.reg.Active(ctx, tx, rec.Name)
	switch {
	case errors.Is(err, ml.ErrNoActive):
		active = ml.Baseline()
	case err != nil:
		return false, "", err
	default:
		if active, err = t.reg.Load(ctx, activeRec); err != nil {
			// A broken active version is beaten by any working candidate.
			active = nil
		}
	}
	if active != nil {
		activeM, err := ml.Evaluate(active, test)
		if err != nil {
			return false, "", err
		}
		if !ml.Beats(candM, activeM) {
			return false, fmt.Sprintf("non promu: F1 macro %.3f / exactitude %.3f contre %.3f / %.3f pour la version active %s",
				candM.MacroF1, candM.Accuracy, activeM.MacroF1, activeM.Accuracy, active.Version), nil
		}
		if _, err := t.reg.ActivateTx(ctx, tx, rec.ID, "auto-promotion"); err != nil {
			return false, "", err
		}
		return true, fmt.Sprintf("promu: F1 macro %.3f / exactitude %.3f contre %.3f / %.3f pour la version %s",
			candM.MacroF1, candM.Accuracy, activeM.MacroF1, activeM.Accuracy, active.Version), nil
	}
	if _, err := t.reg.ActivateTx(ctx, tx, rec.ID, "auto-promotion"); err != nil {
		return false, "", err
	}
	return true, "promu: la version active ne peut pas être chargée", nil
}
