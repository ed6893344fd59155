-- Ingest (functions/ingest): device credentials and storage tuning of raw_message.

-- +goose Up

-- Per-device keys for INGEST_DEVICE_AUTH=on. A station presents its key in the
-- X-Device-Key header (or ?device_key= on /ws/sensors/); only the SHA-256 of the key is
-- stored. Keys are server-generated random tokens (>= 128 bits), so a fast hash is the
-- right tool here (a slow password KDF would only cost CPU on every connection). Several
-- keys may exist per device (rotation); a revoked key stops working within the ingest's
-- key cache TTL.
CREATE TABLE ingest_device_keys (
    key_hash   bytea PRIMARY KEY CHECK (octet_length(key_hash) = 32),
    device_id  varchar(100) NOT NULL,
    note       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX ingest_device_keys_device_id ON ingest_device_keys (device_id);

-- raw_message holds zstd-compressed frames: TOAST compression cannot shrink them
-- further, so store them out of line without trying (saves the pglz/lz4 attempt on
-- every insert).
ALTER TABLE sensor_samples ALTER COLUMN raw_message SET STORAGE EXTERNAL;

-- +goose Down
ALTER TABLE sensor_samples ALTER COLUMN raw_message SET STORAGE EXTENDED;
DROP TABLE ingest_device_keys;
