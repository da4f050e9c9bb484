-- Projections of property.events: a building's time zone (schedules) and a unit's building.
CREATE TABLE buildings (
    id          text        PRIMARY KEY,
    org_id      text        NOT NULL,
    timezone    text        NOT NULL,
    deleted     boolean     NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('buildings');

CREATE TABLE units (
    id          text        PRIMARY KEY,
    org_id      text        NOT NULL,
    building_id text        NOT NULL,
    deleted     boolean     NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('units');

-- A lock vendor account (seed 001): its permanent token and cached temporary token are sealed (Fernet).
CREATE TABLE vendors (
    id                 text        PRIMARY KEY,
    org_id             text        NOT NULL,
    name               text        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('aurmur')),
    base_url           text        NOT NULL,
    permanent_token    text        NOT NULL,
    temporary_token    text,
    temporary_expires  double precision,
    status             text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ok', 'degraded')),
    last_error         text,
    last_sync_at       timestamptz,
    events_primed      boolean     NOT NULL DEFAULT false,
    -- newest vendor event time seen (epoch s): older events are not looked at again
    events_cursor      double precision NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);
SELECT enable_org_rls('vendors');

-- A vendor listing links locks; Hearth maps it to a unit (its doors) or a building (common doors).
CREATE TABLE listings (
    id                 text        PRIMARY KEY,
    org_id             text        NOT NULL,
    vendor_id          text        NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    vendor_listing_id  text        NOT NULL,
    name               text        NOT NULL,
    code_length        integer     NOT NULL,
    timezone           text        NOT NULL,
    linked_locks       text[]      NOT NULL DEFAULT '{}',
    building_id        text,
    unit_id            text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (vendor_id, vendor_listing_id)
);
SELECT enable_org_rls('listings');

CREATE TABLE locks (
    id                 text        PRIMARY KEY,
    org_id             text        NOT NULL,
    vendor_id          text        NOT NULL REFERENCES vendors (id) ON DELETE CASCADE,
    vendor_lock_id     text        NOT NULL,
    listing_id         text        REFERENCES listings (id) ON DELETE SET NULL,
    name               text        NOT NULL,
    model              text,
    building_id        text,
    unit_id            text,
    state              text        NOT NULL DEFAULT 'unknown' CHECK (state IN ('locked', 'unlocked', 'jammed', 'unknown')),
    battery_pct        integer,
    online             boolean     NOT NULL DEFAULT true,
    last_seen          timestamptz,
    code_length_min    integer     NOT NULL DEFAULT 4,
    code_length_max    integer     NOT NULL DEFAULT 8,
    max_codes          integer     NOT NULL DEFAULT 20,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (vendor_id, vendor_lock_id)
);
SELECT enable_org_rls('locks');
CREATE INDEX locks_org_building ON locks (org_id, building_id, unit_id, id);

-- One lock/unlock command and its outcome (Seam's "action attempt").
CREATE TABLE action_attempts (
    id              text        PRIMARY KEY,
    org_id          text        NOT NULL,
    lock_id         text        NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    action          text        NOT NULL CHECK (action IN ('lock', 'unlock')),
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'success', 'error')),
    error_type      text,
    error_message   text,
    lockdown_id     text,
    requested_by    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    -- set (and committed) before the vendor is called: a redelivered command never calls it again
    claimed_at      timestamptz,
    finished_at     timestamptz
);
SELECT enable_org_rls('action_attempts');
CREATE INDEX action_attempts_guardrail ON action_attempts (lock_id, action, created_at);
CREATE INDEX action_attempts_open ON action_attempts (expires_at) WHERE status = 'pending';

CREATE TABLE lock_events (
    id               text        PRIMARY KEY,
    org_id           text        NOT NULL,
    lock_id          text        NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    vendor_event_id  text,
    type             text        NOT NULL,
    method           text,
    access_code_id   text,
    battery_pct      integer,
    occurred_at      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('lock_events');
CREATE UNIQUE INDEX lock_events_vendor ON lock_events (lock_id, vendor_event_id) WHERE vendor_event_id IS NOT NULL;
CREATE INDEX lock_events_org_time ON lock_events (org_id, occurred_at DESC, id);

CREATE TABLE access_codes (
    id                    text        PRIMARY KEY,
    org_id                text        NOT NULL,
    name                  text        NOT NULL,
    code                  text        NOT NULL,
    purpose               text        NOT NULL CHECK (purpose IN ('resident', 'technician', 'guest', 'staff')),
    unit_id               text,
    building_id           text,
    lease_id              text,
    request_id            text,
    resident_id           text,
    unlock_notifications  text,
    schedule              jsonb       NOT NULL,
    timezone              text        NOT NULL,
    deleted               boolean     NOT NULL DEFAULT false,
    removed_at            timestamptz,
    first_used_at         timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('access_codes');
-- an automation issues one code per request / per (lease, resident), however often its event arrives
CREATE UNIQUE INDEX access_codes_request ON access_codes (org_id, request_id)
    WHERE request_id IS NOT NULL AND purpose = 'technician';
CREATE UNIQUE INDEX access_codes_lease_resident ON access_codes (org_id, lease_id, resident_id)
    WHERE lease_id IS NOT NULL AND resident_id IS NOT NULL;
CREATE INDEX access_codes_org_created ON access_codes (org_id, created_at DESC, id);

-- The vendor programs codes per listing: what Hearth last sent for (code, listing) and its retry state.
CREATE TABLE code_listings (
    code_id           text        NOT NULL REFERENCES access_codes (id) ON DELETE CASCADE,
    listing_id        text        NOT NULL REFERENCES listings (id) ON DELETE CASCADE,
    org_id            text        NOT NULL,
    vendor_code_id    text,
    programmed        jsonb,
    removal_requested boolean     NOT NULL DEFAULT false,
    attempts          integer     NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_error        text,
    gave_up           boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (code_id, listing_id)
);
SELECT enable_org_rls('code_listings');

-- A code's state on one lock: seed 001's seven states.
CREATE TABLE code_locks (
    code_id     text        NOT NULL REFERENCES access_codes (id) ON DELETE CASCADE,
    lock_id     text        NOT NULL REFERENCES locks (id) ON DELETE CASCADE,
    listing_id  text        NOT NULL,
    org_id      text        NOT NULL,
    state       text        NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'activation_pending',
                    'activation_pending_with_failure', 'activated', 'deactivation_pending',
                    'deactivation_pending_with_failure', 'deactivated')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code_id, lock_id)
);
SELECT enable_org_rls('code_locks');
CREATE INDEX code_locks_lock ON code_locks (lock_id);

-- A lease that ended: unit.access_cleared goes out once, when all its codes are confirmed removed.
CREATE TABLE lease_clearances (
    lease_id    text        PRIMARY KEY,
    org_id      text        NOT NULL,
    unit_id     text        NOT NULL,
    cleared_at  timestamptz
);
SELECT enable_org_rls('lease_clearances');

CREATE TABLE lockdowns (
    id           text        PRIMARY KEY,
    org_id       text        NOT NULL,
    building_id  text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('active', 'lifted')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    lifted_at    timestamptz
);
SELECT enable_org_rls('lockdowns');
CREATE UNIQUE INDEX lockdowns_one_active ON lockdowns (org_id, building_id) WHERE status = 'active';

CREATE TABLE lockdown_locks (
    lockdown_id     text NOT NULL REFERENCES lockdowns (id) ON DELETE CASCADE,
    lock_id         text NOT NULL,
    org_id          text NOT NULL,
    previous_state  text NOT NULL,
    lock_attempt_id text NOT NULL,
    restore_attempt_id text,
    PRIMARY KEY (lockdown_id, lock_id)
);
SELECT enable_org_rls('lockdown_locks');
