-- Foie-gras metrics of each sample, as plain columns.
--
-- Why: the dashboard overview's metrics panel (sqal-contract §6.3) needs
-- fusion.foie_gras_metrics.{lobe_thickness_mm, l_star, delta_e} of the 100 newest
-- samples. They only exist inside the stored frame (raw_message, compressed); decoding
-- 100 frames of ~140 KB per request costs far more than the 100 ms budget of the
-- overview. Ingest SHOULD fill these columns when it stores a sample; sqal-api fills
-- any it finds NULL (decoding raw_message once) so older rows heal on first read.

-- +goose Up
ALTER TABLE sensor_samples
    ADD COLUMN foie_gras_lobe_thickness_mm double precision,
    ADD COLUMN foie_gras_l_star double precision,
    ADD COLUMN foie_gras_delta_e double precision;

-- +goose Down
ALTER TABLE sensor_samples
    DROP COLUMN IF EXISTS foie_gras_lobe_thickness_mm,
    DROP COLUMN IF EXISTS foie_gras_l_star,
    DROP COLUMN IF EXISTS foie_gras_delta_e;
