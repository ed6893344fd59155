package ml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Registry statuses (ai_models.status).
const (
	StatusCandidate = "candidate"
	StatusActive    = "active"
	StatusArchived  = "archived"
)

// Errors of the registry.
var (
	ErrModelNotFound = errors.New("Model not found") // text of the backend-new contract
	ErrNoActive      = errors.New("no active version")
	ErrNoPrevious    = errors.New("no previously active version to roll back to")
)

// Outbox writes an event in the transaction of the change it announces
// (events.AddToOutbox in production).
type Outbox func(ctx context.Context, tx pgx.Tx, e cloudevents.Event) error

// Record is one ai_models row.
type Record struct {
	ID              string          `json:"id"`
	Name            string          `json:"name"`
	Version         string          `json:"version"`
	Status          string          `json:"status"`
	Framework       *string         `json:"framework"`
	ModelType       *string         `json:"model_type"`
	FeatureVersion  *string         `json:"feature_version"`
	Metrics         json.RawMessage `json:"metrics"`
	Accuracy        *float64        `json:"accuracy"`
	ValAccuracy     *float64        `json:"val_accuracy"`
	Precision       *float64        `json:"precision"`
	Recall          *float64        `json:"recall"`
	F1              *float64        `json:"f1_score"`
	Architecture    *string         `json:"architecture"`
	ParametersCount *int64          `json:"parameters_count"`
	SizeBytes       *int64          `json:"size_bytes"`
	Config          json.RawMessage `json:"config"`
	TrainFrom       *time.Time      `json:"train_from"`
	TrainTo         *time.Time      `json:"train_to"`
	TrainSamples    *int32          `json:"train_samples"`
	DatasetHash     *string         `json:"dataset_hash"`
	DatasetID       *string         `json:"dataset_id"`
	TrainingJobID   *string         `json:"training_job_id"`
	ArtefactSHA256  *string         `json:"artefact_sha256"`
	Metadata        json.RawMessage `json:"metadata"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	ActivatedAt     *time.Time      `json:"activated_at"`
	DeactivatedAt   *time.Time      `json:"deactivated_at"`
}

// Builtin reports whether the record is the built-in rules model (no artefact).
func (r Record) Builtin() bool { return r.ModelType != nil && *r.ModelType == TypeRules }

const recordColumns = `id, name, version, status, framework, model_type, feature_version,
	metrics, accuracy, val_accuracy, precision_score, recall, f1_score, architecture,
	parameters_count, size_bytes, config, train_from, train_to, train_samples, dataset_hash,
	dataset_id, training_job_id, artefact_sha256, COALESCE(metadata, '{}'),
	COALESCE(created_at, now()), updated_at, activated_at, deactivated_at`

func scanRecord(row pgx.Row) (Record, error) {
	var r Record
	err := row.Scan(&r.ID, &r.Name, &r.Version, &r.Status, &r.Framework, &r.ModelType, &r.FeatureVersion,
		&r.Metrics, &r.Accuracy, &r.ValAccuracy, &r.Precision, &r.Recall, &r.F1, &r.Architecture,
		&r.ParametersCount, &r.SizeBytes, &r.Config, &r.TrainFrom, &r.TrainTo, &r.TrainSamples, &r.DatasetHash,
		&r.DatasetID, &r.TrainingJobID, &r.ArtefactSHA256, &r.Metadata,
		&r.CreatedAt, &r.UpdatedAt, &r.ActivatedAt, &r.DeactivatedAt)
	return r, err
}

// Registry is the model registry over ai_models and an artefact Store.
type Registry struct {
	// DB is the functions' *database.DB: the registry tables are not tenant data (one
	// quality model for every organisation), but the Service reads samples and writes
	// predictions through it in the organisation scope of each context.
	DB     DB
	Store  Store
	Outbox Outbox // nil: no events (tests, tools)
	Source string // CloudEvents source of the events it emits
}

// Querier is a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// DB is what the registry and the Service need from the database: in the functions the
// scoped *database.DB (shared/database), which runs every statement and transaction in
// the organisation scope of its context (row-level security on sensor_samples and
// predictions); a plain pool only where row-level security does not apply (tools and
// tests connected as the owner).
type DB interface {
	Querier
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Get returns a model by id (ErrModelNotFound for an unknown or malformed id).
func (r *Registry) Get(ctx context.Context, q Querier, id string) (Record, error) {
	if q == nil {
		q = r.DB
	}
	rec, err := scanRecord(q.QueryRow(ctx, `SELECT `+recordColumns+` FROM ai_models WHERE id::text = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, fmt.Errorf("model %s: %w", id, ErrModelNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("read model %s: %w", id, err)
	}
	return rec, nil
}

// Active returns the active version of a model name (ErrNoActive when none).
func (r *Registry) Active(ctx context.Context, q Querier, name string) (Record, error) {
	if q == nil {
		q = r.DB
	}
	rec, err := scanRecord(q.QueryRow(ctx, `SELECT `+recordColumns+` FROM ai_models WHERE name = $1 AND status = 'active'`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, fmt.Errorf("model %s: %w", name, ErrNoActive)
	}
	if err != nil {
		return Record{}, fmt.Errorf("read active model %s: %w", name, err)
	}
	return rec, nil
}

// ListFilter selects models for List.
type ListFilter struct {
	Status string // "" = all
	Name   string // "" = all
	Skip   int
	Limit  int
}

// List returns models newest first, and the number matching the filter.
func (r *Registry) List(ctx context.Context, f ListFilter) ([]Record, int, error) {
	var total int
	where := `WHERE ($1 = '' OR status = $1) AND ($2 = '' OR name = $2)`
	if err := r.DB.QueryRow(ctx, `SELECT count(*) FROM ai_models `+where, f.Status, f.Name).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count models: %w", err)
	}
	rows, err := r.DB.Query(ctx, `SELECT `+recordColumns+` FROM ai_models `+where+`
		ORDER BY created_at DESC NULLS LAST, name, id OFFSET $3 LIMIT $4`, f.Status, f.Name, f.Skip, f.Limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list models: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) { return scanRecord(row) })
	if err != nil {
		return nil, 0, fmt.Errorf("list models: %w", err)
	}
	return out, total, nil
}

// Candidate is a trained model to register.
type Candidate struct {
	Model         *Model
	Train         Metrics // on the training split
	Test          Metrics // on the held-out split
	Config        TrainConfig
	From, To      *time.Time
	Samples       int
	DatasetHash   string
	DatasetID     *string
	TrainingJobID *string
}

// Register stores a new candidate version of c.Model.Name inside tx: it picks the next
// version number, writes the artefact through the Store, inserts the row, and queues
// sqal.model.trained. c.Model.Version is set to the new version.
func (r *Registry) Register(ctx context.Context, tx pgx.Tx, c Candidate) (Record, error) {
	m := c.Model
	// Serialise registrations of one name so version numbers never collide.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('ai_models:' || $1))`, m.Name); err != nil {
		return Record{}, fmt.Errorf("lock model name %s: %w", m.Name, err)
	}
	var next int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version::int) FILTER (WHERE version ~ '^[0-9]{1,9}$'), 0) + 1
		FROM ai_models WHERE name = $1`, m.Name).Scan(&next); err != nil {
		return Record{}, fmt.Errorf("next version of %s: %w", m.Name, err)
	}
	m.Version = strconv.Itoa(next)
	art, err := Marshal(m)
	if err != nil {
		return Record{}, err
	}
	metrics, _ := json.Marshal(map[string]any{"train": c.Train, "test": c.Test, "held_out_fraction": HoldOut})
	cfg, _ := json.Marshal(c.Config)
	var id string
	if err := tx.QueryRow(ctx, `SELECT gen_random_uuid()::text`).Scan(&id); err != nil {
		return Record{}, fmt.Errorf("new model id: %w", err)
	}
	// The artefact goes first: a row must never point at bytes that are not there. A
	// failure after this leaves an orphan artefact, which nothing reads.
	if err := r.Store.Put(ctx, id, art); err != nil {
		return Record{}, err
	}
	rec, err := scanRecord(tx.QueryRow(ctx, `INSERT INTO ai_models (id, name, version, status, framework,
			model_type, feature_version, metrics, accuracy, val_accuracy, precision_score, recall, f1_score,
			architecture, parameters_count, size_bytes, config, train_from, train_to, train_samples,
			dataset_hash, dataset_id, training_job_id, artefact_sha256, metadata)
		VALUES ($1, $2, $3, 'candidate', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
			$19, $20, $21, $22, $23, '{}')
		RETURNING `+recordColumns,
		id, m.Name, m.Version, Framework, m.Type, m.FeatureVersion, metrics, c.Train.Accuracy, c.Test.Accuracy,
		c.Test.Precision, c.Test.Recall, c.Test.MacroF1, m.Architecture(), m.ParametersCount(), len(art), cfg,
		c.From, c.To, c.Samples, c.DatasetHash, c.DatasetID, c.TrainingJobID, Checksum(art)))
	if err != nil {
		return Record{}, fmt.Errorf("register model %s %s: %w", m.Name, m.Version, err)
	}
	if err := r.emit(ctx, tx, TypeModelTrained, rec.ID, ModelEvent{
		ModelID: rec.ID, Name: rec.Name, Version: rec.Version, Status: rec.Status, JobID: c.TrainingJobID,
		Metrics: metrics, Time: rec.CreatedAt}); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// HoldOut is the fraction of samples held out for evaluation.
const HoldOut = 0.2

// Load returns the servable model of a record: the built-in baseline for the rules
// model, otherwise the artefact from the Store, checked (ErrCorruptArtefact) and matched
// against the record.
func (r *Registry) Load(ctx context.Context, rec Record) (*Model, error) {
	if rec.Builtin() {
		m := Baseline()
		m.Name, m.Version = rec.Name, rec.Version
		return m, nil
	}
	b, err := r.Store.Get(ctx, rec.ID)
	if err != nil {
		return nil, err
	}
	m, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("load model %s %s (%s): %w", rec.Name, rec.Version, rec.ID, err)
	}
	if m.Name != rec.Name || m.Version != rec.Version {
		return nil, fmt.Errorf("load model %s %s (%s): %w: artefact holds %s %s", rec.Name, rec.Version, rec.ID,
			ErrCorruptArtefact, m.Name, m.Version)
	}
	return m, nil
}

// Activate makes a version the active one of its name, archiving the previous active
// version, in one transaction. Its artefact is loaded first: a corrupt artefact is
// refused and the active version stays.
func (r *Registry) Activate(ctx context.Context, id, reason string) (Record, error) {
	var out Record
	err := pgx.BeginFunc(ctx, r.DB, func(tx pgx.Tx) error {
		var err error
		out, err = r.ActivateTx(ctx, tx, id, reason)
		return err
	})
	return out, err
}

// ActivateTx is Activate inside the caller's transaction.
func (r *Registry) ActivateTx(ctx context.Context, tx pgx.Tx, id, reason string) (Record, error) {
	rec, err := r.Get(ctx, tx, id)
	if err != nil {
		return Record{}, err
	}
	if _, err := r.Load(ctx, rec); err != nil {
		return Record{}, fmt.Errorf("activate model %s %s: %w", rec.Name, rec.Version, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('ai_models:' || $1))`, rec.Name); err != nil {
		return Record{}, fmt.Errorf("lock model name %s: %w", rec.Name, err)
	}
	var previous *string
	err = tx.QueryRow(ctx, `UPDATE ai_models SET status = 'archived', deactivated_at = now(), updated_at = now()
		WHERE name = $1 AND status = 'active' AND id::text <> $2 RETURNING id::text`, rec.Name, id).Scan(&previous)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Record{}, fmt.Errorf("archive active %s: %w", rec.Name, err)
	}
	rec, err = scanRecord(tx.QueryRow(ctx, `UPDATE ai_models SET status = 'active', activated_at = now(),
		deactivated_at = NULL, updated_at = now() WHERE id::text = $1 RETURNING `+recordColumns, id))
	if err != nil {
		return Record{}, fmt.Errorf("activate model %s: %w", id, err)
	}
	evID := fmt.Sprintf("%s:activated:%d", rec.ID, rec.ActivatedAt.UnixNano())
	if err := r.emit(ctx, tx, TypeModelActivated, evID, ModelEvent{ModelID: rec.ID, Name: rec.Name,
		Version: rec.Version, Status: rec.Status, PreviousID: previous, Reason: reason, Time: *rec.ActivatedAt}); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// Deactivate archives a version if it is active (idempotent). The name is then served by
// the built-in baseline until another version is activated.
func (r *Registry) Deactivate(ctx context.Context, id string) (Record, error) {
	var out Record
	err := pgx.BeginFunc(ctx, r.DB, func(tx pgx.Tx) error {
		rec, err := r.Get(ctx, tx, id)
		if err != nil {
			return err
		}
		if rec.Status != StatusActive {
			out = rec
			return nil
		}
		out, err = scanRecord(tx.QueryRow(ctx, `UPDATE ai_models SET status = 'archived', deactivated_at = now(),
			updated_at = now() WHERE id::text = $1 RETURNING `+recordColumns, id))
		if err != nil {
			return fmt.Errorf("deactivate model %s: %w", id, err)
		}
		evID := fmt.Sprintf("%s:deactivated:%d", out.ID, out.DeactivatedAt.UnixNano())
		return r.emit(ctx, tx, TypeModelActivated, evID, ModelEvent{ModelID: out.ID, Name: out.Name,
			Version: out.Version, Status: out.Status, Reason: "deactivated", Time: *out.DeactivatedAt})
	})
	return out, err
}

// Rollback re-activates the version of name that was active before the current one
// (the archived version deactivated most recently), in one transaction.
func (r *Registry) Rollback(ctx context.Context, name string) (Record, error) {
	var out Record
	err := pgx.BeginFunc(ctx, r.DB, func(tx pgx.Tx) error {
		var prev string
		err := tx.QueryRow(ctx, `SELECT id::text FROM ai_models
			WHERE name = $1 AND status = 'archived' AND activated_at IS NOT NULL
			ORDER BY deactivated_at DESC NULLS LAST, activated_at DESC LIMIT 1`, name).Scan(&prev)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("roll back %s: %w", name, ErrNoPrevious)
		}
		if err != nil {
			return fmt.Errorf("roll back %s: %w", name, err)
		}
		out, err = r.ActivateTx(ctx, tx, prev, "rollback")
		return err
	})
	return out, err
}

func (r *Registry) emit(ctx context.Context, tx pgx.Tx, typ, id string, data any) error {
	if r.Outbox == nil {
		return nil
	}
	e := cloudevents.NewEvent()
	e.SetID(id)
	e.SetType(typ)
	e.SetSource(r.Source)
	e.SetTime(time.Now().UTC())
	if err := e.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	if err := r.Outbox(ctx, tx, e); err != nil {
		return fmt.Errorf("queue %s event %s: %w", typ, id, err)
	}
	return nil
}
