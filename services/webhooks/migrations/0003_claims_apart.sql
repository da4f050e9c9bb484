-- In flight = a row here whose lease has not ended. Claims used to be written into the delivery row
-- (`claimed_until`, and `next_attempt_at` moved past the lease), which wrote a whole new version of that
-- row and of its index entries for every attempt: Postgres was the bottleneck of the deliveries/s bench.
-- Now a delivery's row is written when it is queued and once per outcome; a claim is a small row of its
-- own, inserted when claimed and deleted with the outcome. A worker that dies leaves its claim until the
-- lease ends: the delivery is then due again (its `next_attempt_at` never moved), and the stale claim is
-- taken over by the next claim.
CREATE TABLE claims (
    delivery_id  text        PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    org_id       text        NOT NULL,
    endpoint_id  text        NOT NULL,
    until        timestamptz NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);
CREATE INDEX claims_endpoint ON claims (endpoint_id, until);

-- (every org's deliveries: the move crosses orgs like the delivery workers do)
SELECT set_config('hearth.system', 'on', true);
INSERT INTO claims (delivery_id, org_id, endpoint_id, until)
    SELECT id, org_id, endpoint_id, claimed_until FROM deliveries
    WHERE status = 'pending' AND claimed_until IS NOT NULL;
SELECT enable_org_rls('claims');

DROP INDEX deliveries_in_flight;
ALTER TABLE deliveries DROP COLUMN claimed_until;

-- The delivery log lists an endpoint's deliveries by sequence (the unique index serves it); this index
-- only cost a fifth of the index writes of every delivery row written.
DROP INDEX deliveries_endpoint_created;
