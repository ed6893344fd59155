-- CloudEvents plumbing (shared/events): the transactional outbox, the record of
-- processed events that makes consumers idempotent, and the dead letters of the local
-- event bus and the relay.

-- +goose Up

-- Events written in the same transaction as the data they describe; the relay
-- delivers them to the broker at least once and marks them delivered.
CREATE TABLE event_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     text NOT NULL,
    source       text NOT NULL,
    type         text NOT NULL,
    subject      text,
    -- The event's data, byte for byte (its content type is in attributes).
    payload      bytea,
    -- Every other context attribute and extension (specversion, time,
    -- datacontenttype, dataschema, traceparent, ...), as CloudEvents JSON names.
    attributes   jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Not before this time: the relay's back-off after a failed attempt.
    available_at timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    delivered_at timestamptz
);
-- A producer that writes the same event twice (same source and id) stores it once.
CREATE UNIQUE INDEX event_outbox_source_event_id ON event_outbox (source, event_id);
-- What the relay scans, in id order: only the undelivered rows, however many
-- delivered rows the retention keeps.
CREATE INDEX event_outbox_pending ON event_outbox (id) WHERE delivered_at IS NULL;
-- Pruning of delivered rows.
CREATE INDEX event_outbox_delivered_at ON event_outbox (delivered_at) WHERE delivered_at IS NOT NULL;

-- Wake the relay as soon as a transaction that wrote events commits (NOTIFY is
-- delivered at commit, and repeated notifications in one transaction collapse into
-- one). A statement trigger covers every writer, COPY included, for one notification
-- per statement.
-- +goose StatementBegin
CREATE FUNCTION event_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('event_outbox', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER event_outbox_notify
    AFTER INSERT ON event_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_notify();

-- Events a consumer has applied, written in the transaction of the effect: a
-- redelivered event finds its row and is acknowledged without a second effect.
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    source       text NOT NULL,
    event_id     text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source, event_id)
);
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);

-- Events that could not be delivered after every retry (local event bus) or that the
-- broker rejected as malformed (relay). Kept for inspection and replay.
CREATE TABLE event_dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Who gave up: the Trigger name (local bus) or "outbox-relay".
    origin      text NOT NULL,
    subscriber  text,
    event_id    text NOT NULL,
    source      text NOT NULL,
    type        text NOT NULL,
    subject     text,
    payload     bytea,
    attributes  jsonb NOT NULL DEFAULT '{}',
    attempts    integer NOT NULL,
    last_status integer,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_dead_letters_created_at ON event_dead_letters (created_at);

-- +goose Down
DROP TABLE IF EXISTS event_dead_letters;
DROP TABLE IF EXISTS processed_events;
DROP TABLE IF EXISTS event_outbox;
DROP FUNCTION IF EXISTS event_outbox_notify();
