-- Hourly rollup of sensor_samples for the quality read APIs (sqal-api).
--
-- Why: the dashboard overview, grade distribution, hourly and site stats aggregate over
-- days to months of samples; at a million rows a scan of the raw table costs hundreds of
-- milliseconds. This table keeps, per (UTC hour, device, fusion grade), the counts and
-- sums those aggregates need. Readers combine whole hours from here with the partial
-- hours at the edges of a window read from sensor_samples, so results are exact.
--
-- It is maintained by statement-level triggers with transition tables: one INSERT ...
-- ON CONFLICT per statement (not per row), so COPY and multi-row inserts pay once, and a
-- single-sample ingest transaction pays one small upsert. UPDATEs only move counts when
-- a column the rollup depends on changed; DELETEs (retention) subtract.

-- +goose Up
CREATE TABLE sqal_sample_hourly (
    bucket        timestamptz      NOT NULL, -- date_trunc('hour', "timestamp", 'UTC')
    device_id     varchar(100)     NOT NULL,
    grade         varchar(50)      NOT NULL, -- fusion_final_grade
    n             bigint           NOT NULL,
    n_compliant   bigint           NOT NULL, -- fusion_is_compliant
    sum_score     double precision NOT NULL, -- fusion_final_score
    sum_volume    double precision NOT NULL, -- vl53l8ch_volume_mm3 (non-null values)
    n_volume      bigint           NOT NULL,
    sum_freshness double precision NOT NULL, -- as7341_freshness_index (non-null values)
    n_freshness   bigint           NOT NULL,
    PRIMARY KEY (bucket, device_id, grade)
);
CREATE INDEX idx_sqal_sample_hourly_device ON sqal_sample_hourly (device_id, bucket);

-- The same per (hour, grade) across devices, as a view: a table kept by the trigger
-- would put one row per (hour, grade) under every ingest transaction, and concurrent
-- stations would queue on its lock until each commit (measured: ingest throughput fell
-- with the number of stations). Summing the per-device rows of a month (~40,000 rows for
-- 12 devices) costs a few milliseconds, which the read cache absorbs.
CREATE VIEW sqal_sample_hourly_grade AS
SELECT bucket, grade, sum(n)::bigint AS n, sum(n_compliant)::bigint AS n_compliant,
       sum(sum_score) AS sum_score
FROM sqal_sample_hourly GROUP BY bucket, grade;

-- +goose StatementBegin
CREATE FUNCTION sqal_sample_hourly_insert() RETURNS trigger
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
CREATE FUNCTION sqal_sample_hourly_change() RETURNS trigger
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

CREATE TRIGGER sqal_sample_hourly_insert AFTER INSERT ON sensor_samples
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sqal_sample_hourly_insert();
CREATE TRIGGER sqal_sample_hourly_update AFTER UPDATE ON sensor_samples
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sqal_sample_hourly_change();
CREATE TRIGGER sqal_sample_hourly_delete AFTER DELETE ON sensor_samples
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sqal_sample_hourly_change();

-- Back-fill from the rows already stored.
INSERT INTO sqal_sample_hourly
SELECT date_trunc('hour', "timestamp", 'UTC'), device_id, fusion_final_grade, count(*),
       count(*) FILTER (WHERE COALESCE(fusion_is_compliant, fusion_final_grade <> 'REJECT')),
       sum(fusion_final_score),
       COALESCE(sum(vl53l8ch_volume_mm3), 0), count(vl53l8ch_volume_mm3),
       COALESCE(sum(as7341_freshness_index), 0), count(as7341_freshness_index)
FROM sensor_samples GROUP BY 1, 2, 3;

-- +goose Down
DROP TRIGGER IF EXISTS sqal_sample_hourly_delete ON sensor_samples;
DROP TRIGGER IF EXISTS sqal_sample_hourly_update ON sensor_samples;
DROP TRIGGER IF EXISTS sqal_sample_hourly_insert ON sensor_samples;
DROP FUNCTION IF EXISTS sqal_sample_hourly_change();
DROP FUNCTION IF EXISTS sqal_sample_hourly_insert();
DROP VIEW IF EXISTS sqal_sample_hourly_grade;
DROP TABLE IF EXISTS sqal_sample_hourly;
