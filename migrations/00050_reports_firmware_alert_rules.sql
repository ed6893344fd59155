-- Reports, scheduled reports and templates (backend-new §2.6), firmware versions and OTA
-- campaigns (§2.13), and the persisted alert rules (§2.14) served by reports-api.
--
-- Generated report files and uploaded firmware images are kept in PostgreSQL (bytea, in
-- side tables so that lists never read them): the functions run on read-only root file
-- systems and any replica must be able to serve a download.

-- +goose Up
CREATE TABLE reports (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title         varchar(300) NOT NULL,
    report_type   varchar(100) NOT NULL,
    format        varchar(10)  NOT NULL DEFAULT 'pdf'
                  CHECK (format IN ('pdf', 'excel', 'csv', 'json')),
    status        varchar(20)  NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'generating', 'completed', 'failed')),
    parameters    jsonb        NOT NULL DEFAULT '{}'::jsonb,
    start_date    timestamptz,
    end_date      timestamptz,
    file_name     varchar(300),
    content_type  varchar(100),
    file_size     bigint,
    file_hash     char(64),
    row_count     integer,
    created_by    varchar(200),
    created_at    timestamptz  NOT NULL DEFAULT now(),
    started_at    timestamptz,
    completed_at  timestamptz,
    error_message varchar(1000),
    -- attempts counts generation starts (claims); a job interrupted by its instance is
    -- failed, not re-run, so it stays at 1 unless that policy changes.
    attempts      integer      NOT NULL DEFAULT 0
);
CREATE INDEX reports_created_at_idx ON reports (created_at DESC);
CREATE INDEX reports_unfinished_idx ON reports (created_at) WHERE status IN ('pending', 'generating');

CREATE TABLE report_files (
    report_id uuid PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    content   bytea NOT NULL
);

CREATE TABLE scheduled_reports (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          varchar(200) NOT NULL,
    report_config jsonb        NOT NULL DEFAULT '{}'::jsonb,
    frequency     varchar(20)  NOT NULL
                  CHECK (frequency IN ('daily', 'weekly', 'monthly', 'quarterly')),
    enabled       boolean      NOT NULL DEFAULT true,
    recipients    jsonb        NOT NULL DEFAULT '[]'::jsonb,
    next_run      timestamptz,
    last_run      timestamptz,
    created_by    varchar(200),
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX scheduled_reports_created_at_idx ON scheduled_reports (created_at DESC);

CREATE TABLE report_templates (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name             varchar(200) NOT NULL UNIQUE,
    description      text,
    report_type      varchar(100) NOT NULL,
    template_content jsonb        NOT NULL DEFAULT '{}'::jsonb,
    styles           jsonb,
    is_active        boolean      NOT NULL DEFAULT true,
    is_default       boolean      NOT NULL DEFAULT false,
    created_by       varchar(200),
    created_at       timestamptz  NOT NULL DEFAULT now(),
    updated_at       timestamptz  NOT NULL DEFAULT now()
);

CREATE TABLE firmware_versions (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    version              varchar(50)  NOT NULL UNIQUE,
    major                integer      NOT NULL,
    minor                integer      NOT NULL,
    patch                integer      NOT NULL,
    name                 varchar(200) NOT NULL,
    description          text,
    release_notes        text,
    file_name            varchar(300) NOT NULL,
    file_size            bigint       NOT NULL,
    file_hash            char(64)     NOT NULL,
    compatible_devices   jsonb        NOT NULL DEFAULT '[]'::jsonb,
    min_required_version varchar(50),
    status               varchar(20)  NOT NULL DEFAULT 'draft'
                         CHECK (status IN ('draft', 'released', 'deprecated')),
    is_stable            boolean      NOT NULL DEFAULT false,
    released_at          timestamptz,
    created_at           timestamptz  NOT NULL DEFAULT now(),
    updated_at           timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX firmware_versions_created_at_idx ON firmware_versions (created_at DESC);

CREATE TABLE firmware_files (
    firmware_version_id uuid PRIMARY KEY REFERENCES firmware_versions (id) ON DELETE CASCADE,
    content             bytea NOT NULL
);

CREATE TABLE ota_updates (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                varchar(200) NOT NULL,
    -- RESTRICT: a firmware version that a campaign rolled out stays, for the record.
    firmware_version_id uuid         NOT NULL REFERENCES firmware_versions (id) ON DELETE RESTRICT,
    target_devices      jsonb        NOT NULL DEFAULT '[]'::jsonb,
    target_device_type  varchar(100),
    scheduled_at        timestamptz,
    started_at          timestamptz,
    completed_at        timestamptz,
    status              varchar(20)  NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled')),
    total_devices       integer      NOT NULL DEFAULT 0,
    devices_updated     integer      NOT NULL DEFAULT 0,
    devices_failed      integer      NOT NULL DEFAULT 0,
    rollout_strategy    varchar(20)  NOT NULL DEFAULT 'all_at_once'
                        CHECK (rollout_strategy IN ('all_at_once', 'gradual', 'scheduled')),
    rollout_percentage  integer      NOT NULL DEFAULT 100 CHECK (rollout_percentage BETWEEN 0 AND 100),
    notes               text,
    created_by          varchar(200),
    created_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX ota_updates_created_at_idx ON ota_updates (created_at DESC);
CREATE INDEX ota_updates_firmware_idx ON ota_updates (firmware_version_id);

CREATE TABLE ota_update_logs (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ota_update_id     uuid         NOT NULL REFERENCES ota_updates (id) ON DELETE CASCADE,
    device_id         varchar(100) NOT NULL,
    status            varchar(20)  NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'downloading', 'installing', 'completed', 'failed')),
    download_progress integer      NOT NULL DEFAULT 0 CHECK (download_progress BETWEEN 0 AND 100),
    install_progress  integer      NOT NULL DEFAULT 0 CHECK (install_progress BETWEEN 0 AND 100),
    previous_version  varchar(50),
    target_version    varchar(50)  NOT NULL,
    started_at        timestamptz,
    completed_at      timestamptz,
    error_message     varchar(1000),
    retry_count       integer      NOT NULL DEFAULT 0,
    created_at        timestamptz  NOT NULL DEFAULT now(),
    updated_at        timestamptz  NOT NULL DEFAULT now(),
    UNIQUE (ota_update_id, device_id)
);

CREATE TABLE alert_rules (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            varchar(200) NOT NULL,
    condition       varchar(500) NOT NULL,
    severity        varchar(20)  NOT NULL DEFAULT 'warning'
                    CHECK (severity IN ('info', 'warning', 'critical')),
    enabled         boolean      NOT NULL DEFAULT true,
    notify_channels jsonb        NOT NULL DEFAULT '["websocket"]'::jsonb,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz
);
CREATE INDEX alert_rules_enabled_idx ON alert_rules (created_at) WHERE enabled;

-- +goose Down
DROP TABLE alert_rules;
DROP TABLE ota_update_logs;
DROP TABLE ota_updates;
DROP TABLE firmware_files;
DROP TABLE firmware_versions;
DROP TABLE report_templates;
DROP TABLE scheduled_reports;
DROP TABLE report_files;
DROP TABLE reports;
