-- Organisations isolated by the database itself (issue: security and tenancy).
--
-- Every tenant-owned row carries organization_id, and row-level security shows a
-- transaction only the rows of the organisation it acts for:
--
--   app.organization_id    the organisation (uuid), set per transaction by the functions
--                          (shared/database.DB: set_config(..., true), transaction-local, so
--                          it cannot leak to the next client of a PgBouncer server
--                          connection in transaction mode);
--   app.all_organizations  'on' for work that spans organisations (training, retention,
--                          super_admin, resolving a device's organisation).
--
-- Without either setting a query sees nothing and an insert fails the policy: a
-- forgotten scope is an empty page or an error, never another organisation's data.
-- Inserts that do not name organization_id get the transaction's organisation (column
-- default; the default organisation when there is none, which only a role that bypasses
-- RLS can then write: migrations, seeds, tests).
--
-- The functions connect as sqal_app: NOBYPASSRLS, not the owner of any table, and the
-- tables FORCE row-level security so even their owner is subject to it (superusers
-- always bypass RLS: never run the functions as one). Roles are global to the
-- PostgreSQL cluster, so sqal_app is created NOLOGIN when missing and never dropped;
-- deployments give it a password and LOGIN (k8s migration job, the local runner).
--
-- What is not tenant-owned: reference data (sites_euralis, lots_gavage, firmware
-- versions and files, report templates, admin settings), the model registry and its
-- training jobs and datasets (one quality model for every organisation; training reads
-- every organisation's samples), and the event plumbing (outbox, processed events, dead
-- letters: their rows are the functions' own bookkeeping).
--
-- Foreign keys to organizations only on registry tables; the high-volume derived rows
-- (samples, alerts, predictions, rollups) take their organisation from the device and
-- skip the per-row check.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sqal_app') THEN
        CREATE ROLE sqal_app NOLOGIN NOBYPASSRLS;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE FUNCTION sqal_current_organization() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT NULLIF(current_setting('app.organization_id', true), '')::uuid $$;

CREATE FUNCTION sqal_row_organization() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT COALESCE(sqal_current_organization(), '00000000-0000-4000-8000-000000000001'::uuid) $$;

-- Inlined by the planner (a single SQL expression, STABLE, not SECURITY DEFINER).
CREATE FUNCTION sqal_tenant_visible(org uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT org = sqal_current_organization() OR current_setting('app.all_organizations', true) = 'on' $$;

-- Registry tables: organisation with a foreign key.
ALTER TABLE ingest_device_keys ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES organizations (id);
ALTER TABLE device_calibrations ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES organizations (id);
ALTER TABLE reports ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES organizations (id);
ALTER TABLE scheduled_reports ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES organizations (id);
ALTER TABLE alert_rules ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES organizations (id);
ALTER TABLE ota_updates ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES organizations (id);

-- Derived and high-volume tables (a constant default: no table rewrite).
ALTER TABLE sensor_samples ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001';
ALTER TABLE sqal_alerts ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001';
ALTER TABLE predictions ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001';
ALTER TABLE sample_labels ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001';
ALTER TABLE report_files ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001';
ALTER TABLE ota_update_logs ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001';

-- Users: every user belongs to an organisation now; deleting an organisation that still
-- has users is refused instead of orphaning them.
UPDATE users SET organization_id = '00000000-0000-4000-8000-000000000001' WHERE organization_id IS NULL;
ALTER TABLE users ALTER COLUMN organization_id SET NOT NULL,
    DROP CONSTRAINT users_organization_id_fkey,
    ADD CONSTRAINT users_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES organizations (id);

-- Rollups: one row per organisation too (the organisation last in the key, so the
-- bucket and lot ranges the readers scan stay the leading columns).
ALTER TABLE sqal_sample_hourly ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001';
ALTER TABLE sqal_sample_hourly DROP CONSTRAINT sqal_sample_hourly_pkey,
    ADD PRIMARY KEY (bucket, device_id, grade, organization_id);
ALTER TABLE sqal_sample_lot ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001';
ALTER TABLE sqal_sample_lot DROP CONSTRAINT sqal_sample_lot_pkey,
    ADD PRIMARY KEY (lot_id, grade, organization_id);
-- The view must read the rollup with the caller's rights, or RLS would not apply.
ALTER VIEW sqal_sample_hourly_grade SET (security_invoker = true);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sqal_sample_hourly_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sqal_sample_hourly AS h
    SELECT date_trunc('hour', "timestamp", 'UTC'), device_id, fusion_final_grade, count(*),
           count(*) FILTER (WHERE COALESCE(fusion_is_compliant, fusion_final_grade <> 'REJECT')),
           sum(fusion_final_score),
           COALESCE(sum(vl53l8ch_volume_mm3), 0), count(vl53l8ch_volume_mm3),
           COALESCE(sum(as7341_freshness_index), 0), count(as7341_freshness_index),
           organization_id
    FROM new_rows GROUP BY 1, 2, 3, 11 ORDER BY 1, 2, 3, 11
    ON CONFLICT (bucket, device_id, grade, organization_id) DO UPDATE SET
        n             = h.n + EXCLUDED.n,
        n_compliant   = h.n_compliant + EXCLUDED.n_compliant,
        sum_score     = h.sum_score + EXCLUDED.sum_score,
        sum_volume    = h.sum_volume + EXCLUDED.sum_volume,
        n_volume      = h.n_volume + EXCLUDED.n_volume,
        sum_freshness = h.sum_freshness + EXCLUDED.sum_freshness,
        n_freshness   = h.n_freshness + EXCLUDED.n_freshness;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sqal_sample_hourly_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Rows leaving (old values, sgn -1) and entering (new values, sgn +1). For an UPDATE
    -- only rows whose rollup columns changed count, so the updates that touch other
    -- columns (blockchain hash, QR code, lot id) cost one join and write nothing.
    IF TG_OP = 'DELETE' THEN
        WITH moved AS (SELECT -1 AS sgn, o.* FROM old_rows o)
        INSERT INTO sqal_sample_hourly AS h
        SELECT date_trunc('hour', "timestamp", 'UTC'), device_id, fusion_final_grade, sum(sgn),
               COALESCE(sum(sgn) FILTER (WHERE COALESCE(fusion_is_compliant, fusion_final_grade <> 'REJECT')), 0),
               sum(sgn * fusion_final_score),
               COALESCE(sum(sgn * vl53l8ch_volume_mm3), 0),
               COALESCE(sum(sgn) FILTER (WHERE vl53l8ch_volume_mm3 IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_freshness_index), 0),
               COALESCE(sum(sgn) FILTER (WHERE as7341_freshness_index IS NOT NULL), 0),
               organization_id
        FROM moved GROUP BY 1, 2, 3, 11 ORDER BY 1, 2, 3, 11
        ON CONFLICT (bucket, device_id, grade, organization_id) DO UPDATE SET
            n             = h.n + EXCLUDED.n,
            n_compliant   = h.n_compliant + EXCLUDED.n_compliant,
            sum_score     = h.sum_score + EXCLUDED.sum_score,
            sum_volume    = h.sum_volume + EXCLUDED.sum_volume,
            n_volume      = h.n_volume + EXCLUDED.n_volume,
            sum_freshness = h.sum_freshness + EXCLUDED.sum_freshness,
            n_freshness   = h.n_freshness + EXCLUDED.n_freshness;
    ELSE
        WITH changed AS (
            SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.organization_id, o."timestamp", o.device_id, o.fusion_final_grade, o.fusion_is_compliant,
                   o.fusion_final_score, o.vl53l8ch_volume_mm3, o.as7341_freshness_index)
                  IS DISTINCT FROM
                  (n.organization_id, n."timestamp", n.device_id, n.fusion_final_grade, n.fusion_is_compliant,
                   n.fusion_final_score, n.vl53l8ch_volume_mm3, n.as7341_freshness_index)
        ), moved AS (
            SELECT -1 AS sgn, o.* FROM old_rows o JOIN changed c ON c.id = o.id
            UNION ALL
            SELECT 1, n.* FROM new_rows n JOIN changed c ON c.id = n.id
        )
        INSERT INTO sqal_sample_hourly AS h
        SELECT date_trunc('hour', "timestamp", 'UTC'), device_id, fusion_final_grade, sum(sgn),
               COALESCE(sum(sgn) FILTER (WHERE COALESCE(fusion_is_compliant, fusion_final_grade <> 'REJECT')), 0),
               sum(sgn * fusion_final_score),
               COALESCE(sum(sgn * vl53l8ch_volume_mm3), 0),
               COALESCE(sum(sgn) FILTER (WHERE vl53l8ch_volume_mm3 IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_freshness_index), 0),
               COALESCE(sum(sgn) FILTER (WHERE as7341_freshness_index IS NOT NULL), 0),
               organization_id
        FROM moved GROUP BY 1, 2, 3, 11 ORDER BY 1, 2, 3, 11
        ON CONFLICT (bucket, device_id, grade, organization_id) DO UPDATE SET
            n             = h.n + EXCLUDED.n,
            n_compliant   = h.n_compliant + EXCLUDED.n_compliant,
            sum_score     = h.sum_score + EXCLUDED.sum_score,
            sum_volume    = h.sum_volume + EXCLUDED.sum_volume,
            n_volume      = h.n_volume + EXCLUDED.n_volume,
            sum_freshness = h.sum_freshness + EXCLUDED.sum_freshness,
            n_freshness   = h.n_freshness + EXCLUDED.n_freshness;
    END IF;
    DELETE FROM sqal_sample_hourly WHERE n <= 0;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sqal_sample_lot_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sqal_sample_lot AS l
    SELECT lot_id, fusion_final_grade, count(*),
           COALESCE(sum(fusion_final_score), 0), count(fusion_final_score),
           COALESCE(sum(vl53l8ch_quality_score), 0), count(vl53l8ch_quality_score),
           COALESCE(sum(as7341_quality_score), 0), count(as7341_quality_score),
           COALESCE(sum(as7341_freshness_index), 0), count(as7341_freshness_index),
           COALESCE(sum(as7341_fat_quality_index), 0), count(as7341_fat_quality_index),
           COALESCE(sum(as7341_oxidation_index), 0), count(as7341_oxidation_index),
           organization_id
    FROM new_rows WHERE lot_id IS NOT NULL GROUP BY 1, 2, 16 ORDER BY 1, 2, 16
    ON CONFLICT (lot_id, grade, organization_id) DO UPDATE SET
        n = l.n + EXCLUDED.n,
        sum_score = l.sum_score + EXCLUDED.sum_score, n_score = l.n_score + EXCLUDED.n_score,
        sum_tof = l.sum_tof + EXCLUDED.sum_tof, n_tof = l.n_tof + EXCLUDED.n_tof,
        sum_spectral = l.sum_spectral + EXCLUDED.sum_spectral, n_spectral = l.n_spectral + EXCLUDED.n_spectral,
        sum_freshness = l.sum_freshness + EXCLUDED.sum_freshness, n_freshness = l.n_freshness + EXCLUDED.n_freshness,
        sum_fat = l.sum_fat + EXCLUDED.sum_fat, n_fat = l.n_fat + EXCLUDED.n_fat,
        sum_oxidation = l.sum_oxidation + EXCLUDED.sum_oxidation, n_oxidation = l.n_oxidation + EXCLUDED.n_oxidation;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sqal_sample_lot_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        WITH moved AS (SELECT -1 AS sgn, o.* FROM old_rows o)
        INSERT INTO sqal_sample_lot AS l
        SELECT lot_id, fusion_final_grade, sum(sgn),
               COALESCE(sum(sgn * fusion_final_score), 0), COALESCE(sum(sgn) FILTER (WHERE fusion_final_score IS NOT NULL), 0),
               COALESCE(sum(sgn * vl53l8ch_quality_score), 0), COALESCE(sum(sgn) FILTER (WHERE vl53l8ch_quality_score IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_quality_score), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_quality_score IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_freshness_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_freshness_index IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_fat_quality_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_fat_quality_index IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_oxidation_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_oxidation_index IS NOT NULL), 0),
               organization_id
        FROM moved WHERE lot_id IS NOT NULL GROUP BY 1, 2, 16 ORDER BY 1, 2, 16
        ON CONFLICT (lot_id, grade, organization_id) DO UPDATE SET
            n = l.n + EXCLUDED.n,
            sum_score = l.sum_score + EXCLUDED.sum_score, n_score = l.n_score + EXCLUDED.n_score,
            sum_tof = l.sum_tof + EXCLUDED.sum_tof, n_tof = l.n_tof + EXCLUDED.n_tof,
            sum_spectral = l.sum_spectral + EXCLUDED.sum_spectral, n_spectral = l.n_spectral + EXCLUDED.n_spectral,
            sum_freshness = l.sum_freshness + EXCLUDED.sum_freshness, n_freshness = l.n_freshness + EXCLUDED.n_freshness,
            sum_fat = l.sum_fat + EXCLUDED.sum_fat, n_fat = l.n_fat + EXCLUDED.n_fat,
            sum_oxidation = l.sum_oxidation + EXCLUDED.sum_oxidation, n_oxidation = l.n_oxidation + EXCLUDED.n_oxidation;
    ELSE
        WITH changed AS (
            SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.organization_id, o.lot_id, o.fusion_final_grade, o.fusion_final_score, o.vl53l8ch_quality_score, o.as7341_quality_score, o.as7341_freshness_index, o.as7341_fat_quality_index, o.as7341_oxidation_index)
                  IS DISTINCT FROM
                  (n.organization_id, n.lot_id, n.fusion_final_grade, n.fusion_final_score, n.vl53l8ch_quality_score, n.as7341_quality_score, n.as7341_freshness_index, n.as7341_fat_quality_index, n.as7341_oxidation_index)
        ), moved AS (
            SELECT -1 AS sgn, o.* FROM old_rows o JOIN changed c ON c.id = o.id
            UNION ALL
            SELECT 1, n.* FROM new_rows n JOIN changed c ON c.id = n.id
        )
        INSERT INTO sqal_sample_lot AS l
        SELECT lot_id, fusion_final_grade, sum(sgn),
               COALESCE(sum(sgn * fusion_final_score), 0), COALESCE(sum(sgn) FILTER (WHERE fusion_final_score IS NOT NULL), 0),
               COALESCE(sum(sgn * vl53l8ch_quality_score), 0), COALESCE(sum(sgn) FILTER (WHERE vl53l8ch_quality_score IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_quality_score), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_quality_score IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_freshness_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_freshness_index IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_fat_quality_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_fat_quality_index IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_oxidation_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_oxidation_index IS NOT NULL), 0),
               organization_id
        FROM moved WHERE lot_id IS NOT NULL GROUP BY 1, 2, 16 ORDER BY 1, 2, 16
        ON CONFLICT (lot_id, grade, organization_id) DO UPDATE SET
            n = l.n + EXCLUDED.n,
            sum_score = l.sum_score + EXCLUDED.sum_score, n_score = l.n_score + EXCLUDED.n_score,
            sum_tof = l.sum_tof + EXCLUDED.sum_tof, n_tof = l.n_tof + EXCLUDED.n_tof,
            sum_spectral = l.sum_spectral + EXCLUDED.sum_spectral, n_spectral = l.n_spectral + EXCLUDED.n_spectral,
            sum_freshness = l.sum_freshness + EXCLUDED.sum_freshness, n_freshness = l.n_freshness + EXCLUDED.n_freshness,
            sum_fat = l.sum_fat + EXCLUDED.sum_fat, n_fat = l.n_fat + EXCLUDED.n_fat,
            sum_oxidation = l.sum_oxidation + EXCLUDED.sum_oxidation, n_oxidation = l.n_oxidation + EXCLUDED.n_oxidation;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    DELETE FROM sqal_sample_lot WHERE n <= 0;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- New rows take the transaction's organisation; audit rows of system work (no
-- organisation) keep NULL and are visible to cross-organisation scopes only.
ALTER TABLE audit_log ALTER COLUMN organization_id SET DEFAULT sqal_current_organization();

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sensor_samples', 'sqal_devices', 'sqal_alerts', 'predictions',
        'ingest_device_keys', 'device_calibrations', 'sample_labels', 'users', 'reports',
        'report_files', 'scheduled_reports', 'alert_rules', 'ota_updates', 'ota_update_logs',
        'sqal_sample_hourly', 'sqal_sample_lot', 'audit_log']
    LOOP
        IF t <> 'audit_log' THEN
            EXECUTE format('ALTER TABLE %I ALTER COLUMN organization_id SET DEFAULT sqal_row_organization()', t);
        END IF;
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (sqal_tenant_visible(organization_id)) '
                       'WITH CHECK (sqal_tenant_visible(organization_id))', t);
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations USING (sqal_tenant_visible(id)) WITH CHECK (sqal_tenant_visible(id));

-- The application role: data rights on every table, none on the schema's structure.
GRANT USAGE ON SCHEMA public TO sqal_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO sqal_app;
REVOKE UPDATE, DELETE ON audit_log FROM sqal_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO sqal_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO sqal_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO sqal_app;

-- +goose Down
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM sqal_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM sqal_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM sqal_app;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM sqal_app;
REVOKE USAGE ON SCHEMA public FROM sqal_app;

DROP POLICY tenant_isolation ON organizations;
ALTER TABLE organizations NO FORCE ROW LEVEL SECURITY;
ALTER TABLE organizations DISABLE ROW LEVEL SECURITY;
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sensor_samples', 'sqal_devices', 'sqal_alerts', 'predictions',
        'ingest_device_keys', 'device_calibrations', 'sample_labels', 'users', 'reports',
        'report_files', 'scheduled_reports', 'alert_rules', 'ota_updates', 'ota_update_logs',
        'sqal_sample_hourly', 'sqal_sample_lot', 'audit_log']
    LOOP
        EXECUTE format('DROP POLICY tenant_isolation ON %I', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
-- +goose StatementEnd
ALTER TABLE audit_log ALTER COLUMN organization_id DROP DEFAULT;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sqal_sample_hourly_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sqal_sample_hourly AS h
    SELECT date_trunc('hour', "timestamp", 'UTC'), device_id, fusion_final_grade, count(*),
           count(*) FILTER (WHERE COALESCE(fusion_is_compliant, fusion_final_grade <> 'REJECT')),
           sum(fusion_final_score),
           COALESCE(sum(vl53l8ch_volume_mm3), 0), count(vl53l8ch_volume_mm3),
           COALESCE(sum(as7341_freshness_index), 0), count(as7341_freshness_index)
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (bucket, device_id, grade) DO UPDATE SET
        n             = h.n + EXCLUDED.n,
        n_compliant   = h.n_compliant + EXCLUDED.n_compliant,
        sum_score     = h.sum_score + EXCLUDED.sum_score,
        sum_volume    = h.sum_volume + EXCLUDED.sum_volume,
        n_volume      = h.n_volume + EXCLUDED.n_volume,
        sum_freshness = h.sum_freshness + EXCLUDED.sum_freshness,
        n_freshness   = h.n_freshness + EXCLUDED.n_freshness;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sqal_sample_hourly_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Rows leaving (old values, sgn -1) and entering (new values, sgn +1). For an UPDATE
    -- only rows whose rollup columns changed count, so the updates that touch other
    -- columns (blockchain hash, QR code, lot id) cost one join and write nothing.
    IF TG_OP = 'DELETE' THEN
        WITH moved AS (SELECT -1 AS sgn, o.* FROM old_rows o)
        INSERT INTO sqal_sample_hourly AS h
        SELECT date_trunc('hour', "timestamp", 'UTC'), device_id, fusion_final_grade, sum(sgn),
               COALESCE(sum(sgn) FILTER (WHERE COALESCE(fusion_is_compliant, fusion_final_grade <> 'REJECT')), 0),
               sum(sgn * fusion_final_score),
               COALESCE(sum(sgn * vl53l8ch_volume_mm3), 0),
               COALESCE(sum(sgn) FILTER (WHERE vl53l8ch_volume_mm3 IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_freshness_index), 0),
               COALESCE(sum(sgn) FILTER (WHERE as7341_freshness_index IS NOT NULL), 0)
        FROM moved GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (bucket, device_id, grade) DO UPDATE SET
            n             = h.n + EXCLUDED.n,
            n_compliant   = h.n_compliant + EXCLUDED.n_compliant,
            sum_score     = h.sum_score + EXCLUDED.sum_score,
            sum_volume    = h.sum_volume + EXCLUDED.sum_volume,
            n_volume      = h.n_volume + EXCLUDED.n_volume,
            sum_freshness = h.sum_freshness + EXCLUDED.sum_freshness,
            n_freshness   = h.n_freshness + EXCLUDED.n_freshness;
    ELSE
        WITH changed AS (
            SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o."timestamp", o.device_id, o.fusion_final_grade, o.fusion_is_compliant,
                   o.fusion_final_score, o.vl53l8ch_volume_mm3, o.as7341_freshness_index)
                  IS DISTINCT FROM
                  (n."timestamp", n.device_id, n.fusion_final_grade, n.fusion_is_compliant,
                   n.fusion_final_score, n.vl53l8ch_volume_mm3, n.as7341_freshness_index)
        ), moved AS (
            SELECT -1 AS sgn, o.* FROM old_rows o JOIN changed c ON c.id = o.id
            UNION ALL
            SELECT 1, n.* FROM new_rows n JOIN changed c ON c.id = n.id
        )
        INSERT INTO sqal_sample_hourly AS h
        SELECT date_trunc('hour', "timestamp", 'UTC'), device_id, fusion_final_grade, sum(sgn),
               COALESCE(sum(sgn) FILTER (WHERE COALESCE(fusion_is_compliant, fusion_final_grade <> 'REJECT')), 0),
               sum(sgn * fusion_final_score),
               COALESCE(sum(sgn * vl53l8ch_volume_mm3), 0),
               COALESCE(sum(sgn) FILTER (WHERE vl53l8ch_volume_mm3 IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_freshness_index), 0),
               COALESCE(sum(sgn) FILTER (WHERE as7341_freshness_index IS NOT NULL), 0)
        FROM moved GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (bucket, device_id, grade) DO UPDATE SET
            n             = h.n + EXCLUDED.n,
            n_compliant   = h.n_compliant + EXCLUDED.n_compliant,
            sum_score     = h.sum_score + EXCLUDED.sum_score,
            sum_volume    = h.sum_volume + EXCLUDED.sum_volume,
            n_volume      = h.n_volume + EXCLUDED.n_volume,
            sum_freshness = h.sum_freshness + EXCLUDED.sum_freshness,
            n_freshness   = h.n_freshness + EXCLUDED.n_freshness;
    END IF;
    DELETE FROM sqal_sample_hourly WHERE n <= 0;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sqal_sample_lot_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sqal_sample_lot AS l
    SELECT lot_id, fusion_final_grade, count(*),
           COALESCE(sum(fusion_final_score), 0), count(fusion_final_score),
           COALESCE(sum(vl53l8ch_quality_score), 0), count(vl53l8ch_quality_score),
           COALESCE(sum(as7341_quality_score), 0), count(as7341_quality_score),
           COALESCE(sum(as7341_freshness_index), 0), count(as7341_freshness_index),
           COALESCE(sum(as7341_fat_quality_index), 0), count(as7341_fat_quality_index),
           COALESCE(sum(as7341_oxidation_index), 0), count(as7341_oxidation_index)
    FROM new_rows WHERE lot_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (lot_id, grade) DO UPDATE SET
        n = l.n + EXCLUDED.n,
        sum_score = l.sum_score + EXCLUDED.sum_score, n_score = l.n_score + EXCLUDED.n_score,
        sum_tof = l.sum_tof + EXCLUDED.sum_tof, n_tof = l.n_tof + EXCLUDED.n_tof,
        sum_spectral = l.sum_spectral + EXCLUDED.sum_spectral, n_spectral = l.n_spectral + EXCLUDED.n_spectral,
        sum_freshness = l.sum_freshness + EXCLUDED.sum_freshness, n_freshness = l.n_freshness + EXCLUDED.n_freshness,
        sum_fat = l.sum_fat + EXCLUDED.sum_fat, n_fat = l.n_fat + EXCLUDED.n_fat,
        sum_oxidation = l.sum_oxidation + EXCLUDED.sum_oxidation, n_oxidation = l.n_oxidation + EXCLUDED.n_oxidation;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION sqal_sample_lot_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        WITH moved AS (SELECT -1 AS sgn, o.* FROM old_rows o)
        INSERT INTO sqal_sample_lot AS l
        SELECT lot_id, fusion_final_grade, sum(sgn),
               COALESCE(sum(sgn * fusion_final_score), 0), COALESCE(sum(sgn) FILTER (WHERE fusion_final_score IS NOT NULL), 0),
               COALESCE(sum(sgn * vl53l8ch_quality_score), 0), COALESCE(sum(sgn) FILTER (WHERE vl53l8ch_quality_score IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_quality_score), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_quality_score IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_freshness_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_freshness_index IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_fat_quality_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_fat_quality_index IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_oxidation_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_oxidation_index IS NOT NULL), 0)
        FROM moved WHERE lot_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (lot_id, grade) DO UPDATE SET
            n = l.n + EXCLUDED.n,
            sum_score = l.sum_score + EXCLUDED.sum_score, n_score = l.n_score + EXCLUDED.n_score,
            sum_tof = l.sum_tof + EXCLUDED.sum_tof, n_tof = l.n_tof + EXCLUDED.n_tof,
            sum_spectral = l.sum_spectral + EXCLUDED.sum_spectral, n_spectral = l.n_spectral + EXCLUDED.n_spectral,
            sum_freshness = l.sum_freshness + EXCLUDED.sum_freshness, n_freshness = l.n_freshness + EXCLUDED.n_freshness,
            sum_fat = l.sum_fat + EXCLUDED.sum_fat, n_fat = l.n_fat + EXCLUDED.n_fat,
            sum_oxidation = l.sum_oxidation + EXCLUDED.sum_oxidation, n_oxidation = l.n_oxidation + EXCLUDED.n_oxidation;
    ELSE
        WITH changed AS (
            SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (o.lot_id, o.fusion_final_grade, o.fusion_final_score, o.vl53l8ch_quality_score, o.as7341_quality_score, o.as7341_freshness_index, o.as7341_fat_quality_index, o.as7341_oxidation_index)
                  IS DISTINCT FROM
                  (n.lot_id, n.fusion_final_grade, n.fusion_final_score, n.vl53l8ch_quality_score, n.as7341_quality_score, n.as7341_freshness_index, n.as7341_fat_quality_index, n.as7341_oxidation_index)
        ), moved AS (
            SELECT -1 AS sgn, o.* FROM old_rows o JOIN changed c ON c.id = o.id
            UNION ALL
            SELECT 1, n.* FROM new_rows n JOIN changed c ON c.id = n.id
        )
        INSERT INTO sqal_sample_lot AS l
        SELECT lot_id, fusion_final_grade, sum(sgn),
               COALESCE(sum(sgn * fusion_final_score), 0), COALESCE(sum(sgn) FILTER (WHERE fusion_final_score IS NOT NULL), 0),
               COALESCE(sum(sgn * vl53l8ch_quality_score), 0), COALESCE(sum(sgn) FILTER (WHERE vl53l8ch_quality_score IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_quality_score), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_quality_score IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_freshness_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_freshness_index IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_fat_quality_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_fat_quality_index IS NOT NULL), 0),
               COALESCE(sum(sgn * as7341_oxidation_index), 0), COALESCE(sum(sgn) FILTER (WHERE as7341_oxidation_index IS NOT NULL), 0)
        FROM moved WHERE lot_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (lot_id, grade) DO UPDATE SET
            n = l.n + EXCLUDED.n,
            sum_score = l.sum_score + EXCLUDED.sum_score, n_score = l.n_score + EXCLUDED.n_score,
            sum_tof = l.sum_tof + EXCLUDED.sum_tof, n_tof = l.n_tof + EXCLUDED.n_tof,
            sum_spectral = l.sum_spectral + EXCLUDED.sum_spectral, n_spectral = l.n_spectral + EXCLUDED.n_spectral,
            sum_freshness = l.sum_freshness + EXCLUDED.sum_freshness, n_freshness = l.n_freshness + EXCLUDED.n_freshness,
            sum_fat = l.sum_fat + EXCLUDED.sum_fat, n_fat = l.n_fat + EXCLUDED.n_fat,
            sum_oxidation = l.sum_oxidation + EXCLUDED.sum_oxidation, n_oxidation = l.n_oxidation + EXCLUDED.n_oxidation;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    DELETE FROM sqal_sample_lot WHERE n <= 0;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

ALTER VIEW sqal_sample_hourly_grade RESET (security_invoker);
-- Organisations merge back into one key: rebuild the rollups from the samples.
TRUNCATE sqal_sample_hourly;
ALTER TABLE sqal_sample_hourly DROP CONSTRAINT sqal_sample_hourly_pkey, DROP COLUMN organization_id;
ALTER TABLE sqal_sample_hourly ADD PRIMARY KEY (bucket, device_id, grade);
INSERT INTO sqal_sample_hourly
SELECT date_trunc('hour', "timestamp", 'UTC'), device_id, fusion_final_grade, count(*),
       count(*) FILTER (WHERE COALESCE(fusion_is_compliant, fusion_final_grade <> 'REJECT')),
       sum(fusion_final_score),
       COALESCE(sum(vl53l8ch_volume_mm3), 0), count(vl53l8ch_volume_mm3),
       COALESCE(sum(as7341_freshness_index), 0), count(as7341_freshness_index)
FROM sensor_samples GROUP BY 1, 2, 3;
TRUNCATE sqal_sample_lot;
ALTER TABLE sqal_sample_lot DROP CONSTRAINT sqal_sample_lot_pkey, DROP COLUMN organization_id;
ALTER TABLE sqal_sample_lot ADD PRIMARY KEY (lot_id, grade);
INSERT INTO sqal_sample_lot
SELECT lot_id, fusion_final_grade, count(*),
       COALESCE(sum(fusion_final_score), 0), count(fusion_final_score),
       COALESCE(sum(vl53l8ch_quality_score), 0), count(vl53l8ch_quality_score),
       COALESCE(sum(as7341_quality_score), 0), count(as7341_quality_score),
       COALESCE(sum(as7341_freshness_index), 0), count(as7341_freshness_index),
       COALESCE(sum(as7341_fat_quality_index), 0), count(as7341_fat_quality_index),
       COALESCE(sum(as7341_oxidation_index), 0), count(as7341_oxidation_index)
FROM sensor_samples WHERE lot_id IS NOT NULL GROUP BY 1, 2;

ALTER TABLE users DROP CONSTRAINT users_organization_id_fkey,
    ADD CONSTRAINT users_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES organizations (id) ON DELETE SET NULL,
    ALTER COLUMN organization_id DROP NOT NULL, ALTER COLUMN organization_id DROP DEFAULT;
ALTER TABLE sqal_devices ALTER COLUMN organization_id SET DEFAULT '00000000-0000-4000-8000-000000000001';
ALTER TABLE ota_update_logs DROP COLUMN organization_id;
ALTER TABLE report_files DROP COLUMN organization_id;
ALTER TABLE sample_labels DROP COLUMN organization_id;
ALTER TABLE predictions DROP COLUMN organization_id;
ALTER TABLE sqal_alerts DROP COLUMN organization_id;
ALTER TABLE sensor_samples DROP COLUMN organization_id;
ALTER TABLE ota_updates DROP COLUMN organization_id;
ALTER TABLE alert_rules DROP COLUMN organization_id;
ALTER TABLE scheduled_reports DROP COLUMN organization_id;
ALTER TABLE reports DROP COLUMN organization_id;
ALTER TABLE device_calibrations DROP COLUMN organization_id;
ALTER TABLE ingest_device_keys DROP COLUMN organization_id;
DROP FUNCTION sqal_tenant_visible(uuid);
DROP FUNCTION sqal_row_organization();
DROP FUNCTION sqal_current_organization();
-- sqal_app stays: roles belong to the whole PostgreSQL cluster (other databases).
