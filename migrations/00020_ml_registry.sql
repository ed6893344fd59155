-- ML enrichment (issue 5): the model registry on ai_models, model artefacts, training
-- jobs, datasets, operator labels, and the columns a stored prediction needs.

-- +goose Up

-- Registry. status is the lifecycle (candidate -> active -> archived) and the one
-- source of truth; is_active is derived from it so the legacy readers
-- (POST /api/sqal/predict: "newest row with is_active") keep working unchanged.
ALTER TABLE ai_models
    ADD COLUMN status           varchar(20) NOT NULL DEFAULT 'candidate'
        CONSTRAINT ai_models_status_check CHECK (status IN ('candidate', 'active', 'archived')),
    ADD COLUMN feature_version  varchar(50),
    ADD COLUMN metrics          jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN accuracy         double precision,
    ADD COLUMN val_accuracy     double precision,
    ADD COLUMN precision_score  double precision,
    ADD COLUMN recall           double precision,
    ADD COLUMN f1_score         double precision,
    ADD COLUMN architecture     varchar(200),
    ADD COLUMN parameters_count bigint,
    ADD COLUMN size_bytes       bigint,
    ADD COLUMN config           jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN train_from       timestamptz,
    ADD COLUMN train_to         timestamptz,
    ADD COLUMN train_samples    integer,
    ADD COLUMN dataset_hash     varchar(64),
    ADD COLUMN dataset_id       uuid,
    ADD COLUMN training_job_id  uuid,
    ADD COLUMN artefact_sha256  varchar(64),
    ADD COLUMN activated_at     timestamptz,
    ADD COLUMN deactivated_at   timestamptz,
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now();
UPDATE ai_models SET status = CASE WHEN is_active THEN 'active' ELSE 'candidate' END;
-- Rows written before the registry may have several active versions of one name: keep
-- the newest active, archive the others, before the uniqueness rule below.
UPDATE ai_models m SET status = 'archived'
WHERE m.status = 'active' AND EXISTS (
    SELECT 1 FROM ai_models n
    WHERE n.name = m.name AND n.status = 'active'
      AND (n.created_at, n.id) > (m.created_at, m.id));
DROP INDEX ix_ai_models_is_active;
ALTER TABLE ai_models DROP COLUMN is_active;
ALTER TABLE ai_models ADD COLUMN is_active boolean NOT NULL GENERATED ALWAYS AS (status = 'active') STORED;
CREATE INDEX ix_ai_models_is_active ON ai_models (is_active);
-- Exactly one active version per model name, enforced by the database: two concurrent
-- activations cannot both win.
CREATE UNIQUE INDEX ai_models_one_active_per_name ON ai_models (name) WHERE status = 'active';
CREATE INDEX ai_models_created_at ON ai_models (created_at DESC);

-- Artefacts: the serialised model (format and checksum in shared/ml). Kept apart from
-- ai_models so listing models never reads the bytes, and behind ml.Store so object
-- storage can replace this table. No foreign key: the artefact is written before the
-- registry row commits.
CREATE TABLE ai_model_artefacts (
    model_id   uuid PRIMARY KEY,
    data       bytea NOT NULL,
    sha256     varchar(64) NOT NULL,
    size_bytes bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Training jobs (backend-new contract §2.2) with progress.
CREATE TABLE training_jobs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    model_type       varchar(100) NOT NULL,
    status           varchar(50) NOT NULL DEFAULT 'pending'
        CONSTRAINT training_jobs_status_check CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    phase            varchar(50) NOT NULL DEFAULT 'queued',
    progress_percent double precision NOT NULL DEFAULT 0
        CONSTRAINT training_jobs_progress_check CHECK (progress_percent BETWEEN 0 AND 100),
    current_epoch    integer NOT NULL DEFAULT 0,
    total_epochs     integer NOT NULL DEFAULT 10,
    accuracy         double precision,
    val_accuracy     double precision,
    loss             double precision,
    val_loss         double precision,
    config           jsonb NOT NULL DEFAULT '{}',
    auto_promote     boolean NOT NULL DEFAULT false,
    promoted         boolean,
    promotion_reason text,
    dataset_id       uuid,
    model_id         uuid,
    error_message    varchar(1000),
    logs             jsonb NOT NULL DEFAULT '[]',
    requested_by     varchar(200),
    started_at       timestamptz,
    completed_at     timestamptz,
    heartbeat_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX training_jobs_created_at ON training_jobs (created_at DESC);

-- Datasets: one row per training run's data (window, sizes, hash), so a model can be
-- traced to exactly what it was trained on (backend-new contract §2.3).
CREATE TABLE datasets (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          varchar(200) NOT NULL,
    description   varchar(1000),
    total_samples integer NOT NULL DEFAULT 0,
    train_samples integer,
    val_samples   integer,
    test_samples  integer,
    storage_path  varchar(500),
    size_bytes    bigint,
    labels        jsonb,
    statistics    jsonb,
    dataset_hash  varchar(64),
    window_from   timestamptz,
    window_to     timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz
);
CREATE INDEX datasets_created_at ON datasets (created_at DESC);

-- Operator labels: a quality operator's verdict on a sample overrides the device's
-- fusion grade as the training label.
CREATE TABLE sample_labels (
    sample_id  varchar(100) PRIMARY KEY,
    grade      varchar(10) NOT NULL
        CONSTRAINT sample_labels_grade_check CHECK (grade IN ('A+', 'A', 'B', 'C', 'REJECT')),
    score      double precision CONSTRAINT sample_labels_score_check CHECK (score BETWEEN 0 AND 1),
    labelled_by varchar(200),
    note       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Predictions: both column sets of the contracts (legacy §2.4 and backend-new §2.3),
-- and one prediction per sample and model version, so redelivered events are no-ops.
ALTER TABLE predictions
    ADD COLUMN model_id          uuid,
    ADD COLUMN predicted_class   varchar(100),
    ADD COLUMN confidence        double precision,
    ADD COLUMN probabilities     jsonb,
    ADD COLUMN inference_time_ms double precision,
    ADD COLUMN anomaly_score     double precision,
    ADD COLUMN is_anomaly        boolean,
    ADD COLUMN feature_version   varchar(50),
    ADD COLUMN source            varchar(20),
    ADD COLUMN created_at        timestamptz NOT NULL DEFAULT now();
DELETE FROM predictions p USING predictions q
WHERE p.sample_id = q.sample_id AND p.model_name = q.model_name AND p.model_version = q.model_version
  AND (p.predicted_at, p.id) < (q.predicted_at, q.id);
CREATE UNIQUE INDEX predictions_sample_model_version ON predictions (sample_id, model_name, model_version);
CREATE INDEX predictions_model_id ON predictions (model_id);

-- Bootstrap: the built-in rules model "sqal-quality" v0 (shared/ml.Baseline: the legacy
-- 60/40 fusion rule written as an additive model). It needs no artefact, so every sample
-- is enriched from the first start, before any training ran.
INSERT INTO ai_models (name, version, status, framework, model_type, feature_version, architecture,
                       parameters_count, size_bytes, metadata, activated_at)
VALUES ('sqal-quality', '0', 'active', 'sqal-go', 'rules', 'sqal-features/1',
        'règles additives sur 2 variables (score), seuils de grade', 6, 0,
        '{"builtin": true, "description": "score = 0.6 x score ToF + 0.4 x score spectral; grade par seuils 0.85/0.75/0.60/0.40"}',
        now())
ON CONFLICT (name, version) DO NOTHING;

-- +goose Down
DELETE FROM ai_models WHERE name = 'sqal-quality' AND version = '0' AND model_type = 'rules';
DROP INDEX IF EXISTS predictions_model_id;
DROP INDEX IF EXISTS predictions_sample_model_version;
ALTER TABLE predictions
    DROP COLUMN model_id, DROP COLUMN predicted_class, DROP COLUMN confidence,
    DROP COLUMN probabilities, DROP COLUMN inference_time_ms, DROP COLUMN anomaly_score,
    DROP COLUMN is_anomaly, DROP COLUMN feature_version, DROP COLUMN source, DROP COLUMN created_at;
DROP TABLE IF EXISTS sample_labels;
DROP TABLE IF EXISTS datasets;
DROP TABLE IF EXISTS training_jobs;
DROP TABLE IF EXISTS ai_model_artefacts;
DROP INDEX IF EXISTS ai_models_created_at;
DROP INDEX IF EXISTS ai_models_one_active_per_name;
DROP INDEX IF EXISTS ix_ai_models_is_active;
ALTER TABLE ai_models DROP COLUMN is_active;
ALTER TABLE ai_models ADD COLUMN is_active boolean NOT NULL DEFAULT false;
UPDATE ai_models SET is_active = (status = 'active');
CREATE INDEX ix_ai_models_is_active ON ai_models (is_active);
ALTER TABLE ai_models
    DROP COLUMN status, DROP COLUMN feature_version, DROP COLUMN metrics, DROP COLUMN accuracy,
    DROP COLUMN val_accuracy, DROP COLUMN precision_score, DROP COLUMN recall, DROP COLUMN f1_score,
    DROP COLUMN architecture, DROP COLUMN parameters_count, DROP COLUMN size_bytes, DROP COLUMN config,
    DROP COLUMN train_from, DROP COLUMN train_to, DROP COLUMN train_samples, DROP COLUMN dataset_hash,
    DROP COLUMN dataset_id, DROP COLUMN training_job_id, DROP COLUMN artefact_sha256,
    DROP COLUMN activated_at, DROP COLUMN deactivated_at, DROP COLUMN updated_at;
