-- Written by hearth_kit into every service schema before the service's own migrations.

-- The one org-isolation policy: forced row-level security on `org_id`, matched against the org set per
-- transaction from the verified token; `hearth.system = on` is for deliberate cross-org jobs only.
-- Every org-owned table calls `SELECT enable_org_rls('<table>');` in its migration.
CREATE FUNCTION enable_org_rls(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('CREATE POLICY org_isolation ON %s USING ('
                   'org_id = current_setting(''hearth.org_id'', true) '
                   'OR current_setting(''hearth.system'', true) = ''on'')', tbl);
END $$;

-- Transactional outbox: rows are written in the same transaction as the change they announce.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    event_id    text        NOT NULL UNIQUE,
    topic       text        NOT NULL,
    key         text        NOT NULL,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Per-aggregate sequence numbers (CloudEvents `sequence` extension); the row lock also serialises
-- concurrent writers of one aggregate, so sequence order = commit order = outbox id order.
CREATE TABLE outbox_sequence (
    aggregate_id text   PRIMARY KEY,
    last_value   bigint NOT NULL
);

-- Inbox for idempotent consumers: one row per (consumer, event) in the effect's transaction.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Wakes the relay the moment an outbox row commits (NOTIFY is delivered on commit only).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Idempotency-Key replay store for POSTs that create something.
CREATE TABLE idempotency_keys (
    org_id       text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    status_code  int         NOT NULL,
    body         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
SELECT enable_org_rls('idempotency_keys');
