-- Units, agents, residents, leases and the payments projection (fed by billing.events).
-- Every query also filters org_id explicitly: the RLS policy's OR keeps the planner from using
-- org_id indexes on its own, the explicit predicate lets it.

CREATE TABLE agents (
    id          text        PRIMARY KEY,
    org_id      text        NOT NULL,
    name        text        NOT NULL,
    email       text,
    phone       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_org_created ON agents (org_id, created_at DESC, id);

CREATE TABLE units (
    id               text        PRIMARY KEY,
    org_id           text        NOT NULL,
    building_id      text        NOT NULL REFERENCES buildings (id) ON DELETE RESTRICT,
    name             text        NOT NULL,
    unit_number      text,
    type             text,
    status           text        NOT NULL CHECK (status IN ('available', 'reserved', 'sold', 'off_market', 'rented')),
    bedrooms         int         CHECK (bedrooms >= 0),
    bathrooms        numeric(4, 1) CHECK (bathrooms >= 0),
    size_interior    numeric(12, 2) CHECK (size_interior >= 0),
    size_land        numeric(12, 2) CHECK (size_land >= 0),
    size_unit        text        NOT NULL DEFAULT 'sqm' CHECK (size_unit IN ('sqm', 'sqft')),
    price_amount     numeric(16, 2) NOT NULL CHECK (price_amount >= 0),
    price_currency   char(3)     NOT NULL,
    features         text[]      NOT NULL DEFAULT '{}',
    floor_plan       text,
    gallery          text[]      NOT NULL DEFAULT '{}',
    visibility       text        NOT NULL CHECK (visibility IN ('public', 'agents', 'team', 'private')),
    assigned_agent   text        REFERENCES agents (id) ON DELETE RESTRICT,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- Filter/sort keys as bigint: numeric comparisons are not LEAKPROOF, so under row-level security
    -- Postgres cannot use them as index conditions; int8 comparisons it can. Exact (2 decimals → ×100).
    price_minor      bigint      GENERATED ALWAYS AS ((price_amount * 100)::bigint) STORED,
    -- interior area in hundredths of a square metre (sqft converted): what min_size and sort=size use
    size_sqm_x100    bigint      GENERATED ALWAYS AS (
                         CASE WHEN size_unit = 'sqft' THEN round(size_interior * 9.290304)::bigint
                              ELSE (size_interior * 100)::bigint END) STORED,
    CONSTRAINT units_building_number UNIQUE (building_id, unit_number)
);
-- Filtered list: org + building / status / bedrooms / agent, each ending in a sort key and id so one
-- index both filters and orders (scanned backwards for descending sorts).
CREATE INDEX units_org_created ON units (org_id, created_at, id);
CREATE INDEX units_org_building ON units (org_id, building_id, created_at, id);
CREATE INDEX units_org_building_number ON units (org_id, building_id, unit_number, id);
CREATE INDEX units_org_status_price ON units (org_id, status, price_minor, id);
CREATE INDEX units_org_status_created ON units (org_id, status, created_at, id);
CREATE INDEX units_org_price ON units (org_id, price_minor, id);
CREATE INDEX units_org_bedrooms_price ON units (org_id, bedrooms, price_minor, id);
CREATE INDEX units_org_size ON units (org_id, size_sqm_x100, id);
CREATE INDEX units_org_agent ON units (org_id, assigned_agent, created_at, id) WHERE assigned_agent IS NOT NULL;
-- occupancy counts per building
CREATE INDEX units_building_status ON units (building_id, status);

CREATE TABLE residents (
    id                  text        PRIMARY KEY,
    org_id              text        NOT NULL,
    name                text        NOT NULL,
    email               text,
    phone               text,
    emergency_contacts  jsonb       NOT NULL DEFAULT '[]',
    status              text        NOT NULL CHECK (status IN ('active', 'inactive', 'former')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX residents_org_created ON residents (org_id, created_at DESC, id);
CREATE INDEX residents_org_status ON residents (org_id, status);

CREATE TABLE leases (
    id                  text        PRIMARY KEY,
    org_id              text        NOT NULL,
    unit_id             text        NOT NULL REFERENCES units (id) ON DELETE RESTRICT,
    building_id         text        NOT NULL REFERENCES buildings (id) ON DELETE RESTRICT,
    type                text        NOT NULL CHECK (type IN ('fixed', 'fixed_with_rollover', 'at_will')),
    start_date          date        NOT NULL,
    end_date            date,
    rent_amount         numeric(16, 2) NOT NULL CHECK (rent_amount >= 0),
    rent_currency       char(3)     NOT NULL,
    deposit_amount      numeric(16, 2) NOT NULL CHECK (deposit_amount >= 0),
    deposit_currency    char(3)     NOT NULL,
    payment_due_day     int         NOT NULL CHECK (payment_due_day BETWEEN 1 AND 28),
    terminated_on       date,
    termination_reason  text,
    -- what has been announced: none → active → ended (the sweep and the API move it forward)
    announced           text        NOT NULL DEFAULT 'none' CHECK (announced IN ('none', 'active', 'ended')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (end_date IS NULL OR end_date >= start_date)
);
CREATE INDEX leases_org_unit ON leases (org_id, unit_id, start_date);
CREATE INDEX leases_unit_dates ON leases (unit_id, start_date);
CREATE INDEX leases_pending ON leases (announced, start_date) WHERE announced <> 'ended';

CREATE TABLE lease_residents (
    lease_id     text NOT NULL REFERENCES leases (id) ON DELETE CASCADE,
    resident_id  text NOT NULL REFERENCES residents (id) ON DELETE RESTRICT,
    org_id       text NOT NULL,
    PRIMARY KEY (lease_id, resident_id)
);
CREATE INDEX lease_residents_resident ON lease_residents (resident_id, lease_id);

-- Projection of billing's PaymentRecorded events (no FK: billing may know a resident first).
CREATE TABLE payments (
    payment_id   text        PRIMARY KEY,
    org_id       text        NOT NULL,
    resident_id  text        NOT NULL,
    lease_id     text,
    amount       numeric(16, 2) NOT NULL,
    currency     char(3)     NOT NULL,
    method       text        NOT NULL,
    paid_at      timestamptz NOT NULL,
    reference    text,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_resident ON payments (org_id, resident_id, paid_at DESC);

SELECT enable_org_rls('agents');
SELECT enable_org_rls('units');
SELECT enable_org_rls('residents');
SELECT enable_org_rls('leases');
SELECT enable_org_rls('lease_residents');
SELECT enable_org_rls('payments');
