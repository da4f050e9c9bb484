-- A request that lost its technician (unassigned) may be assigned again: one LIVE code per request,
-- not one ever, so the new assignment gets a fresh code while the old one is still being removed.
DROP INDEX access_codes_request;
CREATE UNIQUE INDEX access_codes_request ON access_codes (org_id, request_id)
    WHERE request_id IS NOT NULL AND purpose = 'technician' AND NOT deleted;

-- A lease terminated with a date still ahead: its resident codes are removed at the start of that day in
-- the building's time zone (the scheduler's pass does it), not when the termination is announced.
CREATE TABLE lease_code_removals (
    lease_id   text        PRIMARY KEY,
    org_id     text        NOT NULL,
    unit_id    text        NOT NULL,
    remove_at  timestamptz NOT NULL
);
SELECT enable_org_rls('lease_code_removals');
CREATE INDEX lease_code_removals_due ON lease_code_removals (remove_at);
