-- At 1,000,000 units two list shapes had to visit the heap for every candidate row just to check its
-- visibility (and the capped count visits up to 1,001 of them): a building sorted by unit number, and a
-- partner's (public-only) size filter sorted by size. Carrying visibility in the index answers both from the
-- index alone (index-only scans once the table is vacuumed, as autovacuum keeps it).
DROP INDEX IF EXISTS units_org_building_number;
CREATE INDEX units_org_building_number ON units (org_id, building_id, unit_number, id) INCLUDE (visibility);
CREATE INDEX units_org_visibility_size ON units (org_id, visibility, size_sqm_x100, id);
