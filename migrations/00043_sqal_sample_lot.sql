-- Per-lot rollup of sensor_samples for the lot quality reads (sqal-api).
--
-- Why: GET /api/sqal/integration/lots-aggregated averages six columns per lot over every
-- sample that has a lot; at a million samples the direct aggregation (plus the mode of
-- the grade) took 12 s on the benchmark machine. This table keeps, per (lot, fusion
-- grade), the count and the sum and count of non-null values of each averaged column:
-- the endpoint reads a few hundred rows. Maintained like sqal_sample_hourly (migration
-- 00040): statement-level triggers with transition tables; an UPDATE moves counts only
-- when lot_id, the grade or an averaged column changed (lot resolution sets lot_id
-- after the insert, so this matters).

-- +goose Up
CREATE TABLE sqal_sample_lot (
    lot_id integer     NOT NULL,
    grade  varchar(50) NOT NULL,
    n      bigint      NOT NULL,
    sum_score double precision NOT NULL,
    n_score   bigint           NOT NULL,
    sum_tof double precision NOT NULL,
    n_tof   bigint           NOT NULL,
    sum_spectral double precision NOT NULL,
    n_spectral   bigint           NOT NULL,
    sum_freshness double precision NOT NULL,
    n_freshness   bigint           NOT NULL,
    sum_fat double precision NOT NULL,
    n_fat   bigint           NOT NULL,
    sum_oxidation double precision NOT NULL,
    n_oxidation   bigint           NOT NULL,
    PRIMARY KEY (lot_id, grade)
);

-- +goose StatementBegin
CREATE FUNCTION sqal_sample_lot_insert() RETURNS trigger
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
CREATE FUNCTION sqal_sample_lot_change() RETURNS trigger
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

CREATE TRIGGER sqal_sample_lot_insert AFTER INSERT ON sensor_samples
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sqal_sample_lot_insert();
CREATE TRIGGER sqal_sample_lot_update AFTER UPDATE ON sensor_samples
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sqal_sample_lot_change();
CREATE TRIGGER sqal_sample_lot_delete AFTER DELETE ON sensor_samples
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sqal_sample_lot_change();

-- Back-fill from the rows already stored.
INSERT INTO sqal_sample_lot
SELECT lot_id, fusion_final_grade, count(*),
       COALESCE(sum(fusion_final_score), 0), count(fusion_final_score),
       COALESCE(sum(vl53l8ch_quality_score), 0), count(vl53l8ch_quality_score),
       COALESCE(sum(as7341_quality_score), 0), count(as7341_quality_score),
       COALESCE(sum(as7341_freshness_index), 0), count(as7341_freshness_index),
       COALESCE(sum(as7341_fat_quality_index), 0), count(as7341_fat_quality_index),
       COALESCE(sum(as7341_oxidation_index), 0), count(as7341_oxidation_index)
FROM sensor_samples WHERE lot_id IS NOT NULL GROUP BY 1, 2;

-- +goose Down
DROP TRIGGER IF EXISTS sqal_sample_lot_delete ON sensor_samples;
DROP TRIGGER IF EXISTS sqal_sample_lot_update ON sensor_samples;
DROP TRIGGER IF EXISTS sqal_sample_lot_insert ON sensor_samples;
DROP FUNCTION IF EXISTS sqal_sample_lot_change();
DROP FUNCTION IF EXISTS sqal_sample_lot_insert();
DROP TABLE IF EXISTS sqal_sample_lot;
