-- Core schema of the SQAL contract (sqal-contract §2) with the §2.5 fixes: every table
-- the system reads or writes is created here (legacy relied on a bootstrap SQL for two
-- of them), ids and timestamps have database defaults, nothing received is thrown away.

-- +goose Up

-- Sites of the Euralis demo (demo-domains contract, ids 1/2/3). sqal_devices.site_code
-- references it; other domains (lots, gaveurs) reference it too.
CREATE TABLE sites_euralis (
    id                  serial PRIMARY KEY,
    code                varchar(2) NOT NULL UNIQUE,
    nom                 varchar(100) NOT NULL,
    region              varchar(100),
    capacite_gavage_max integer,
    nb_gaveurs_actifs   integer DEFAULT 0,
    created_at          timestamptz DEFAULT now(),
    updated_at          timestamptz DEFAULT now()
);

INSERT INTO sites_euralis (id, code, nom, region, capacite_gavage_max) VALUES
    (1, 'LL', 'Bretagne', 'BRETAGNE', 30000),
    (2, 'LS', 'Pays de Loire', 'PAYS DE LA LOIRE', 28000),
    (3, 'MT', 'Maubourguet', 'OCCITANIE', 35000);
SELECT setval(pg_get_serial_sequence('sites_euralis', 'id'), 3);

-- One row per measured product. Plain table (not a hypertable), no foreign keys: the
-- ingest path must never fail on reference data. Columns 1-57 keep the legacy names
-- and types (§2.1); the last four are new.
CREATE TABLE sensor_samples (
    id                             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    "timestamp"                    timestamptz NOT NULL,
    device_id                      varchar(100) NOT NULL,
    sample_id                      varchar(100) NOT NULL,
    lot_id                         integer,
    vl53l8ch_distance_matrix       jsonb,
    vl53l8ch_reflectance_matrix    jsonb,
    vl53l8ch_amplitude_matrix      jsonb,
    vl53l8ch_bins_matrix           jsonb,
    vl53l8ch_volume_mm3            double precision,
    vl53l8ch_avg_height_mm         double precision,
    vl53l8ch_max_height_mm         double precision,
    vl53l8ch_min_height_mm         double precision,
    vl53l8ch_base_area_mm2         double precision,
    vl53l8ch_surface_uniformity    double precision,
    vl53l8ch_defect_count          integer,
    vl53l8ch_quality_score         double precision,
    vl53l8ch_grade                 varchar(50),
    vl53l8ch_bins_analysis         jsonb,
    vl53l8ch_reflectance_analysis  jsonb,
    vl53l8ch_amplitude_consistency jsonb,
    vl53l8ch_score_breakdown       jsonb,
    vl53l8ch_defects               jsonb,
    as7341_channels                jsonb,
    as7341_integration_time        integer,
    as7341_gain                    integer,
    as7341_color_score             double precision,
    as7341_freshness_score         double precision,
    as7341_freshness_index         double precision,
    as7341_fat_quality_index       double precision,
    as7341_oxidation_index         double precision,
    as7341_color_uniformity        double precision,
    as7341_quality_score           double precision,
    as7341_grade                   varchar(50),
    as7341_spectral_analysis       jsonb,
    as7341_color_analysis          jsonb,
    as7341_score_breakdown         jsonb,
    as7341_defects                 jsonb,
    fusion_final_score             double precision NOT NULL,
    fusion_final_grade             varchar(50) NOT NULL,
    fusion_vl53l8ch_score          double precision,
    fusion_as7341_score            double precision,
    fusion_confidence              double precision,
    fusion_defects                 jsonb,
    meta_firmware_version          varchar(50),
    meta_temperature_c             double precision,
    meta_humidity_percent          double precision,
    meta_config_profile            varchar(100),
    processing_time_ms             double precision,
    created_at                     timestamptz DEFAULT now(),
    blockchain_hash                varchar(256),
    blockchain_timestamp           timestamptz,
    qr_code_base64                 varchar,
    lot_abattage                   varchar(100),
    eleveur                        varchar(200),
    provenance                     varchar(200),
    poids_foie_estime_g            double precision,
    -- New: the compliance verdict (legacy derived it on read and crashed, §7.2).
    fusion_is_compliant            boolean NOT NULL,
    -- New: the complete inbound frame, losslessly recoverable (§1.8). The ingest step
    -- chooses the compact encoding and names it in raw_message_encoding so that readers
    -- (and later re-encodings) can decode any row. NULL only for imported legacy rows.
    raw_message                    bytea,
    raw_message_encoding           varchar(20),
    -- Demo branch: lot code sent by the device.
    code_lot                       varchar(20),
    CONSTRAINT sensor_samples_raw_message_encoded CHECK (raw_message IS NULL OR raw_message_encoding IS NOT NULL)
);

-- Legacy index names are kept (§2.1): external SQL (views, the ITM trigger, reports)
-- may name them.
CREATE UNIQUE INDEX ix_sensor_samples_sample_id ON sensor_samples (sample_id);
CREATE INDEX ix_sensor_samples_timestamp ON sensor_samples ("timestamp" DESC);
CREATE INDEX ix_sensor_samples_device_id ON sensor_samples (device_id);
CREATE INDEX idx_sensor_samples_device_timestamp ON sensor_samples (device_id, "timestamp");
CREATE INDEX idx_sensor_samples_grade_timestamp ON sensor_samples (fusion_final_grade, "timestamp");
CREATE INDEX idx_sensor_samples_score_timestamp ON sensor_samples (fusion_final_score, "timestamp");
CREATE INDEX idx_sensor_samples_lot_poids ON sensor_samples (lot_id, poids_foie_estime_g)
    WHERE lot_id IS NOT NULL AND poids_foie_estime_g IS NOT NULL;
-- Several read paths group or filter by lot alone (lots-aggregated, lot quality).
CREATE INDEX idx_sensor_samples_lot_id ON sensor_samples (lot_id);
CREATE INDEX idx_sensor_samples_code_lot ON sensor_samples (code_lot);

-- fusion_is_compliant is NOT NULL, yet rows inserted by SQL that predates the column
-- (demo seeding, legacy scripts) do not set it: derive it from the grade as legacy
-- readers did, so those inserts keep working and every row has a verdict.
-- +goose StatementBegin
CREATE FUNCTION sensor_samples_default_compliance() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.fusion_is_compliant IS NULL THEN
        NEW.fusion_is_compliant := NEW.fusion_final_grade <> 'REJECT';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER sensor_samples_default_compliance
    BEFORE INSERT OR UPDATE OF fusion_is_compliant ON sensor_samples
    FOR EACH ROW WHEN (NEW.fusion_is_compliant IS NULL)
    EXECUTE FUNCTION sensor_samples_default_compliance();

-- Quality-control stations. Auto-created on first contact by ingest.
CREATE TABLE sqal_devices (
    device_id        varchar(100) PRIMARY KEY,
    device_name      varchar(200),
    device_type      varchar(50) DEFAULT 'ESP32',
    firmware_version varchar(20),
    -- Unknown site codes are stored as NULL by the writer (§2.5), never rejected.
    site_code        varchar(2) REFERENCES sites_euralis (code) ON UPDATE CASCADE,
    status           varchar(20) DEFAULT 'active',
    last_seen        timestamptz,
    config_profile   varchar(50),
    notes            text,
    created_at       timestamptz DEFAULT now(),
    updated_at       timestamptz DEFAULT now(),
    -- New: {hello: <last esp32_hello>, heartbeat: <last heartbeat>}.
    metadata         jsonb
);
CREATE INDEX idx_sqal_devices_site ON sqal_devices (site_code);
CREATE INDEX idx_sqal_devices_status ON sqal_devices (status);

-- Legacy inserted NULL names and the device APIs then failed (§2.2): a device is
-- named after its id unless told otherwise, whoever inserts it.
-- +goose StatementBegin
CREATE FUNCTION sqal_devices_default_name() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.device_name := COALESCE(NEW.device_name, NEW.device_id);
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER sqal_devices_default_name
    BEFORE INSERT OR UPDATE OF device_name ON sqal_devices
    FOR EACH ROW WHEN (NEW.device_name IS NULL)
    EXECUTE FUNCTION sqal_devices_default_name();

INSERT INTO sqal_devices (device_id, device_name, firmware_version, site_code, config_profile) VALUES
    ('ESP32-FOIEGRAS-LL-001', 'Capteur Bretagne 1', 'v1.0.0', 'LL', 'foiegras_premium'),
    ('ESP32-FOIEGRAS-LS-001', 'Capteur Pays de Loire 1', 'v1.0.0', 'LS', 'foiegras_premium'),
    ('ESP32-FOIEGRAS-MT-001', 'Capteur Maubourguet 1', 'v1.0.0', 'MT', 'foiegras_premium');

-- Quality alerts (§2.3, §3). alert_id is unique on its own (the API addresses alerts by
-- it); no FK on device_id (alerts for unknown devices are accepted, §5.4 #7) nor on
-- lot_id (lots live in another domain and must not block alerting).
CREATE TABLE sqal_alerts (
    "time"           timestamptz NOT NULL DEFAULT now(),
    alert_id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    sample_id        varchar(100),
    device_id        varchar(100),
    lot_id           integer,
    alert_type       varchar(50) NOT NULL,
    severity         varchar(20) NOT NULL,
    title            varchar(200) NOT NULL,
    message          text,
    defect_details   jsonb,
    threshold_value  numeric(10, 4),
    actual_value     numeric(10, 4),
    deviation_pct    numeric(6, 2),
    acknowledged     boolean NOT NULL DEFAULT false,
    acknowledged_by  varchar(100),
    acknowledged_at  timestamptz,
    resolution_notes text,
    created_at       timestamptz DEFAULT now()
);
-- Automatic alerts are created from at-least-once events: one alert of a type per
-- sample, so a redelivered event inserts nothing (ON CONFLICT DO NOTHING). Manual
-- alerts without a sample are not constrained (NULLs are distinct).
CREATE UNIQUE INDEX idx_sqal_alerts_sample_type ON sqal_alerts (sample_id, alert_type);
CREATE INDEX idx_sqal_alerts_time ON sqal_alerts ("time" DESC);
CREATE INDEX idx_sqal_alerts_device ON sqal_alerts (device_id);
CREATE INDEX idx_sqal_alerts_lot ON sqal_alerts (lot_id) WHERE lot_id IS NOT NULL;
CREATE INDEX idx_sqal_alerts_type ON sqal_alerts (alert_type);
CREATE INDEX idx_sqal_alerts_severity ON sqal_alerts (severity);
CREATE INDEX idx_sqal_alerts_acknowledged ON sqal_alerts (acknowledged);

-- Model registry (§2.4).
CREATE TABLE ai_models (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       varchar(200) NOT NULL,
    version    varchar(50) NOT NULL,
    is_active  boolean NOT NULL DEFAULT false,
    framework  varchar(50),
    model_type varchar(50),
    metadata   jsonb,
    created_at timestamptz DEFAULT now()
);
CREATE INDEX ix_ai_models_name ON ai_models (name);
CREATE INDEX ix_ai_models_version ON ai_models (version);
CREATE INDEX ix_ai_models_is_active ON ai_models (is_active);
CREATE UNIQUE INDEX idx_ai_models_name_version ON ai_models (name, version);

-- Stored predictions (§2.4). No foreign keys, as in legacy.
CREATE TABLE predictions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sample_id     varchar(100) NOT NULL,
    device_id     varchar(100) NOT NULL,
    predicted_at  timestamptz DEFAULT now(),
    model_name    varchar(200) NOT NULL,
    model_version varchar(50) NOT NULL,
    score         double precision,
    grade         varchar(50),
    explanations  jsonb
);
CREATE INDEX ix_predictions_sample_id ON predictions (sample_id);
CREATE INDEX ix_predictions_device_id ON predictions (device_id);
CREATE INDEX ix_predictions_predicted_at ON predictions (predicted_at);
CREATE INDEX ix_predictions_model_name ON predictions (model_name);
CREATE INDEX ix_predictions_model_version ON predictions (model_version);
CREATE INDEX idx_predictions_sample_predicted_at ON predictions (sample_id, predicted_at);

-- lz4 TOAST compression writes large jsonb about twice as fast as the default pglz
-- (measured on simulator frames). It exists only on PostgreSQL >= 14 built with lz4,
-- so it is applied column by column where the server accepts it.
-- +goose StatementBegin
DO $$
DECLARE
    col record;
BEGIN
    IF current_setting('server_version_num')::int < 140000 THEN
        RETURN;
    END IF;
    FOR col IN
        SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = current_schema()
          AND table_name IN ('sensor_samples', 'sqal_devices', 'sqal_alerts', 'predictions', 'ai_models')
          AND data_type IN ('jsonb', 'bytea')
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET COMPRESSION lz4', col.table_name, col.column_name);
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
            RAISE NOTICE 'lz4 compression not available, keeping the default: %', SQLERRM;
            RETURN;
        END;
    END LOOP;
END
$$;
-- +goose StatementEnd

-- TimescaleDB is optional. None of these tables is a hypertable: sensor_samples is
-- a plain table by contract, and sqal_alerts needs alert_id unique on its own, which a
-- hypertable cannot enforce without the time column.

-- +goose Down
DROP TABLE IF EXISTS predictions;
DROP TABLE IF EXISTS ai_models;
DROP TABLE IF EXISTS sqal_alerts;
DROP TABLE IF EXISTS sqal_devices;
DROP FUNCTION IF EXISTS sqal_devices_default_name();
DROP TABLE IF EXISTS sensor_samples;
DROP FUNCTION IF EXISTS sensor_samples_default_compliance();
DROP TABLE IF EXISTS sites_euralis;
