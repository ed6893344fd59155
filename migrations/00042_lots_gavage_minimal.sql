-- Minimal lots_gavage for the lot quality endpoints (GET /api/lots/{lot_id}/qualite
-- answers 404 for a lot that does not exist, sqal-contract §7.2).
--
-- The lots domain (demo-domains-contract §9.3) owns the full table. This migration only
-- creates it when no earlier migration did, marks it with a comment, and its Down drops
-- the table only when that mark is still there, so it never removes the lots domain's
-- table.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    IF to_regclass('lots_gavage') IS NULL THEN
        CREATE TABLE lots_gavage (
            id                 serial PRIMARY KEY,
            code_lot           varchar(20) NOT NULL UNIQUE,
            site_code          varchar(2) REFERENCES sites_euralis (code) ON UPDATE CASCADE,
            gaveur_id          integer,
            statut             varchar(20) DEFAULT 'termine',
            nb_accroches       integer,
            poids_foie_moyen_g numeric(8, 2),
            created_at         timestamptz DEFAULT now(),
            updated_at         timestamptz DEFAULT now()
        );
        COMMENT ON TABLE lots_gavage IS 'minimal: created by migration 00042 (read APIs)';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF obj_description(to_regclass('lots_gavage'), 'pg_class') = 'minimal: created by migration 00042 (read APIs)' THEN
        DROP TABLE lots_gavage;
    END IF;
END
$$;
-- +goose StatementEnd
