-- The unit list leaves out the visibility condition for callers who see every visibility and writes an
-- equality for callers who see one (repository/units.py), so the capped counts of most shapes are
-- index-only. An agent's list (leasing agents see three visibilities, often with a status) still filtered
-- status and visibility on the heap for up to 1,001 rows per count: carrying both in the agent index lets
-- the count stay in the index too.
DROP INDEX IF EXISTS units_org_agent;
CREATE INDEX units_org_agent ON units (org_id, assigned_agent, created_at, id) INCLUDE (status, visibility)
    WHERE assigned_agent IS NOT NULL;
