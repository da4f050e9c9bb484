-- Partners' endpoints. Secrets are sealed (Fernet) by the service before they reach this table.
CREATE TABLE endpoints (
    id                     text        PRIMARY KEY,
    org_id                 text        NOT NULL,
    url                    text        NOT NULL,
    description            text        NOT NULL DEFAULT '',
    event_types            text[]      NOT NULL,
    ordered                boolean     NOT NULL DEFAULT false,
    rate_limit             int         CHECK (rate_limit > 0),
    max_concurrency        int         CHECK (max_concurrency > 0),
    status                 text        NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    disabled_reason        text,
    failing_since          timestamptz,
    -- per-endpoint delivery sequence: partners see gaps in the `hearth-webhook-sequence` header
    last_sequence          bigint      NOT NULL DEFAULT 0,
    secret                 text        NOT NULL,
    previous_secret        text,
    previous_secret_until  timestamptz,
    secret_rotated_at      timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoints_org ON endpoints (org_id, created_at DESC, id);
SELECT enable_org_rls('endpoints');

-- Each consumed event once (its CloudEvent bytes exactly as read), shared by all its deliveries.
CREATE TABLE events (
    id           text        PRIMARY KEY,
    org_id       text        NOT NULL,
    type         text        NOT NULL,
    subject      text        NOT NULL,
    payload      bytea       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('events');

-- The durable delivery queue: one row per (event, endpoint). `id` is the webhook-id, stable across
-- retries and replays. A pending row is due at next_attempt_at; a worker claims it by moving
-- next_attempt_at past a lease, so a worker that dies leaves it due again (nothing lost).
CREATE TABLE deliveries (
    id               text        PRIMARY KEY,
    org_id           text        NOT NULL,
    endpoint_id      text        NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id         text        NOT NULL,
    event_type       text        NOT NULL,
    subject          text        NOT NULL,
    sequence         bigint      NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         int         NOT NULL DEFAULT 0,
    -- failures in a row since the last (re)queue: the position in the retry schedule
    failures         int         NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_status_code int,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id),
    UNIQUE (endpoint_id, sequence)
);
CREATE INDEX deliveries_due ON deliveries (endpoint_id, next_attempt_at, sequence) WHERE status = 'pending';
CREATE INDEX deliveries_pending_subject ON deliveries (endpoint_id, subject, sequence) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint_created ON deliveries (endpoint_id, created_at DESC, sequence DESC);
SELECT enable_org_rls('deliveries');

CREATE TABLE attempts (
    id               text        PRIMARY KEY,
    org_id           text        NOT NULL,
    -- no foreign key: an attempt written while its endpoint is being deleted must not fail the batch
    delivery_id      text        NOT NULL,
    attempted_at     timestamptz NOT NULL,
    status_code      int,
    latency_ms       double precision NOT NULL,
    response_excerpt text,
    error            text
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, attempted_at);
SELECT enable_org_rls('attempts');

-- Wakes the dispatcher the moment new deliveries commit (NOTIFY is delivered on commit only); a fan-out
-- that matched no endpoint inserts nothing and wakes nobody.
CREATE FUNCTION deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows) THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '_deliveries', '');
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_notify AFTER INSERT ON deliveries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_notify();
