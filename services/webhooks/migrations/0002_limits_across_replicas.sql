-- Per-endpoint limits that hold however many replicas deliver.
-- In flight = claimed and not yet recorded. The claim query counts these per endpoint (a worker that died
-- stops counting when its lease ends, which is also when its delivery is due again).
ALTER TABLE deliveries ADD COLUMN claimed_until timestamptz;
CREATE INDEX deliveries_in_flight ON deliveries (endpoint_id, claimed_until) WHERE claimed_until IS NOT NULL;

-- One row per endpoint: the rate window (deliveries started in the current one-second window), and the
-- row a replica locks (SKIP LOCKED) while it claims for that endpoint, so two replicas never both spend
-- the same free slot or the same share of the rate.
CREATE TABLE endpoint_pacing (
    endpoint_id        text        PRIMARY KEY REFERENCES endpoints (id) ON DELETE CASCADE,
    org_id             text        NOT NULL,
    window_started_at  timestamptz NOT NULL DEFAULT '-infinity',
    window_count       int         NOT NULL DEFAULT 0
);
-- (every org's endpoints: the backfill crosses orgs like the delivery workers do)
SELECT set_config('hearth.system', 'on', true);
INSERT INTO endpoint_pacing (endpoint_id, org_id) SELECT id, org_id FROM endpoints;
SELECT enable_org_rls('endpoint_pacing');

-- Old attempts are pruned by age (the retention job); this finds them without a full scan.
CREATE INDEX attempts_attempted_at ON attempts (attempted_at);
CREATE INDEX deliveries_finished ON deliveries (updated_at) WHERE status <> 'pending';
CREATE INDEX deliveries_event ON deliveries (event_id);
