-- Security (shared/auth, shared/audit, functions/admin-api): organisations, the users
-- mirror of Keycloak, the append-only hash-chained audit trail, settings, calibrations,
-- and the device registry's organisation and credential ids.

-- +goose Up

-- Organisations (backend-new §2.10): one enterprise and its sites. The enterprise is
-- the default organisation (shared/auth.DefaultOrganizationID): anonymous callers of
-- open mode and development tokens belong to it.
CREATE TABLE organizations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          varchar(200) NOT NULL UNIQUE,
    type          varchar(30) NOT NULL DEFAULT 'site'
                  CHECK (type IN ('enterprise', 'site', 'production_line', 'department')),
    parent_id     uuid REFERENCES organizations (id) ON DELETE SET NULL,
    description   varchar(1000),
    address       varchar(500),
    contact_email varchar(254),
    contact_phone varchar(50),
    settings      jsonb NOT NULL DEFAULT '{}',
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz
);
INSERT INTO organizations (id, name, type, description) VALUES
    ('00000000-0000-4000-8000-000000000001', 'Euralis', 'enterprise', 'Organisation par défaut de la démonstration');
INSERT INTO organizations (name, type, parent_id, description)
SELECT 'Site ' || code || ' - ' || nom, 'site', '00000000-0000-4000-8000-000000000001', 'Site de production ' || code
FROM sites_euralis ORDER BY id;

-- Users: a local mirror of Keycloak identities (upserted on the first request of each
-- new token) plus users created by the admin API. id = Keycloak's sub when known.
CREATE TABLE users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username        varchar(150) NOT NULL UNIQUE,
    email           varchar(254),
    first_name      varchar(150),
    last_name       varchar(150),
    is_active       boolean NOT NULL DEFAULT true,
    is_staff        boolean NOT NULL DEFAULT false,
    roles           text[] NOT NULL DEFAULT '{}',
    organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
    preferences     jsonb NOT NULL DEFAULT '{}',
    source          varchar(20) NOT NULL DEFAULT 'local', -- local | token | keycloak
    last_login      timestamptz,
    last_session    varchar(200), -- sid (or iat) of the last token seen: a new one is a login
    date_joined     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz
);
CREATE INDEX users_date_joined ON users (date_joined DESC);
-- Demo users (the realm import's users, shared/auth.DevUsers) so the page is not
-- empty before anyone logs in; a login updates the row of the same username.
INSERT INTO users (username, email, first_name, last_name, is_staff, roles, organization_id, source) VALUES
    ('admin', 'admin@sqal.local', 'Admin', 'SQAL', true, '{super_admin,admin}', '00000000-0000-4000-8000-000000000001', 'seed'),
    ('superviseur', 'superviseur@sqal.local', 'Sophie', 'Superviseur', true, '{org_admin,superviseur}', '00000000-0000-4000-8000-000000000001', 'seed'),
    ('qualite', 'qualite@sqal.local', 'Quentin', 'Qualité', false, '{quality_manager}', '00000000-0000-4000-8000-000000000001', 'seed'),
    ('technicien', 'technicien@sqal.local', 'Thomas', 'Technicien', false, '{production_operator,technicien_sqal}', '00000000-0000-4000-8000-000000000001', 'seed'),
    ('analyste', 'analyste@sqal.local', 'Anna', 'Analyste', false, '{data_analyst}', '00000000-0000-4000-8000-000000000001', 'seed'),
    ('gaveur', 'gaveur@sqal.local', 'Jean', 'Gaveur', false, '{viewer,gaveur}', '00000000-0000-4000-8000-000000000001', 'seed'),
    ('consommateur', 'consommateur@sqal.local', 'Claire', 'Consommatrice', false, '{viewer,consommateur}', '00000000-0000-4000-8000-000000000001', 'seed');

-- Audit trail (backend-new §2.11, §3.6). Append-only: no UPDATE/DELETE/TRUNCATE grant
-- and triggers refusing them even to the owner; hash-chained: hash =
-- SHA-256(prev_hash || canonical row) computed by shared/audit, so an edited or
-- deleted row breaks the chain (GET /api/admin/audit/verify). changes is text, not
-- jsonb: jsonb would normalise the bytes the hash covers.
CREATE TABLE audit_log (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              uuid NOT NULL UNIQUE,
    timestamp       timestamptz NOT NULL,
    user_id         varchar(100),
    user_name       varchar(150) NOT NULL,
    action          varchar(100) NOT NULL,
    resource_type   varchar(100) NOT NULL,
    resource_id     varchar(200),
    ip_address      varchar(100),
    user_agent      varchar(500),
    request_id      varchar(128),
    details         text,
    changes         text,
    status          varchar(20) NOT NULL DEFAULT 'success',
    error_message   varchar(1000),
    organization_id uuid,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL UNIQUE
);
CREATE INDEX audit_log_timestamp ON audit_log (timestamp DESC);
CREATE INDEX audit_log_action ON audit_log (action, timestamp DESC);
CREATE INDEX audit_log_resource ON audit_log (resource_type, timestamp DESC);
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Settings (backend-new §2.12): persisted key/value, one row per key.
CREATE TABLE admin_settings (
    key        varchar(100) PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by varchar(150)
);
INSERT INTO admin_settings (key, value) VALUES
    ('systemName', '"SQAL"'), ('timezone', '"UTC"'), ('language', '"fr"'), ('maintenanceMode', 'false');

-- Calibrations (backend-new §2.8).
CREATE TABLE device_calibrations (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    device_id    varchar(100) NOT NULL,
    sensor_type  varchar(10) NOT NULL CHECK (sensor_type IN ('tof', 'as7341')),
    status       varchar(20) NOT NULL DEFAULT 'pending',
    progress     integer NOT NULL DEFAULT 0,
    parameters   jsonb NOT NULL DEFAULT '{}',
    requested_by varchar(150),
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX device_calibrations_created ON device_calibrations (created_at DESC);

-- Device registry: every device belongs to an organisation (the default one until
-- an administrator moves it).
ALTER TABLE sqal_devices ADD COLUMN organization_id uuid NOT NULL
    DEFAULT '00000000-0000-4000-8000-000000000001' REFERENCES organizations (id);

-- Device credentials (ingest's table, 00010): an id to revoke a key by without
-- knowing it, and who issued it.
ALTER TABLE ingest_device_keys ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE;
ALTER TABLE ingest_device_keys ADD COLUMN created_by varchar(150);

-- +goose Down
ALTER TABLE ingest_device_keys DROP COLUMN created_by;
ALTER TABLE ingest_device_keys DROP COLUMN id;
ALTER TABLE sqal_devices DROP COLUMN organization_id;
DROP TABLE device_calibrations;
DROP TABLE admin_settings;
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE users;
DROP TABLE organizations;
