-- Requests (work orders). Status moves only along the lifecycle in domain.py; `overdue` is computed.
CREATE TABLE requests (
    id                    text        PRIMARY KEY,
    org_id                text        NOT NULL,
    building_id           text        NOT NULL,
    unit_id               text,
    title                 text        NOT NULL,
    description           text        NOT NULL DEFAULT '',
    category              text        NOT NULL CHECK (category IN
                              ('plumbing', 'electrical', 'hvac', 'appliance', 'locks', 'pest', 'general')),
    priority              text        NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'emergency')),
    -- for sorting by priority with an index (low 0 .. emergency 3)
    priority_rank         smallint    GENERATED ALWAYS AS (CASE priority WHEN 'low' THEN 0 WHEN 'normal' THEN 1
                                          WHEN 'high' THEN 2 ELSE 3 END) STORED,
    status                text        NOT NULL CHECK (status IN
                              ('new', 'assigned', 'in_progress', 'on_hold', 'done', 'canceled')),
    source                text        NOT NULL CHECK (source IN ('resident', 'staff', 'sensor', 'lock', 'partner')),
    reporter_id           text,
    permission_to_enter   boolean     NOT NULL DEFAULT false,
    entry_notes           text,
    assignee_id           text,
    vendor_name           text,
    window_start          timestamptz,
    window_end            timestamptz,
    due_at                timestamptz NOT NULL,
    completed_at          timestamptz,
    attachments           jsonb       NOT NULL DEFAULT '[]',
    reopen_count          int         NOT NULL DEFAULT 0,
    -- what opened it, when an event did: one open request per sensor and per lock
    sensor_id             text,
    alert_id              text,
    alert_active          boolean     NOT NULL DEFAULT false,
    lock_id               text,
    overdue_announced_at  timestamptz,
    created_by            text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'assigned' OR assignee_id IS NOT NULL),
    CHECK (window_end IS NULL OR window_end > window_start)
);
-- list pages walk these in sort order (id breaks ties the same way as ORDER BY ... id)
CREATE INDEX requests_org_created ON requests (org_id, created_at DESC, id DESC);
CREATE INDEX requests_org_updated ON requests (org_id, updated_at DESC, id DESC);
CREATE INDEX requests_org_due ON requests (org_id, due_at, id);
CREATE INDEX requests_org_priority ON requests (org_id, priority_rank DESC, created_at DESC, id DESC);
CREATE INDEX requests_org_status ON requests (org_id, status, created_at DESC, id DESC);
CREATE INDEX requests_org_assignee ON requests (org_id, assignee_id, created_at DESC, id DESC);
CREATE INDEX requests_org_building ON requests (org_id, building_id, created_at DESC, id DESC);
CREATE INDEX requests_org_unit ON requests (org_id, unit_id) WHERE unit_id IS NOT NULL;
CREATE INDEX requests_org_due_open ON requests (org_id, due_at)
    WHERE status IN ('new', 'assigned', 'in_progress', 'on_hold');
-- the overdue job scans across orgs for open requests not yet announced
CREATE INDEX requests_overdue_pending ON requests (due_at)
    WHERE overdue_announced_at IS NULL AND status IN ('new', 'assigned', 'in_progress', 'on_hold');
CREATE UNIQUE INDEX requests_one_open_per_sensor ON requests (org_id, sensor_id)
    WHERE sensor_id IS NOT NULL AND status IN ('new', 'assigned', 'in_progress', 'on_hold');
CREATE UNIQUE INDEX requests_one_open_per_lock ON requests (org_id, lock_id)
    WHERE lock_id IS NOT NULL AND status IN ('new', 'assigned', 'in_progress', 'on_hold');
SELECT enable_org_rls('requests');

-- Everything that happened to a request: status moves (who, when, from, to, reason) and notable facts.
CREATE TABLE request_history (
    id           bigserial   PRIMARY KEY,
    org_id       text        NOT NULL,
    request_id   text        NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    kind         text        NOT NULL,
    from_status  text,
    to_status    text,
    actor_id     text        NOT NULL,
    reason       text,
    details      jsonb       NOT NULL DEFAULT '{}',
    at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX request_history_request ON request_history (request_id, id);
SELECT enable_org_rls('request_history');

CREATE TABLE request_comments (
    id          text        PRIMARY KEY,
    org_id      text        NOT NULL,
    request_id  text        NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    author_id   text        NOT NULL,
    body        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX request_comments_request ON request_comments (request_id, created_at, id);
SELECT enable_org_rls('request_comments');

-- SLA hours per priority; an org without a row uses the defaults.
CREATE TABLE org_settings (
    org_id      text        PRIMARY KEY,
    sla_hours   jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('org_settings');

-- Projections of other services' facts (fed by consumers; never written from the API).
CREATE TABLE buildings (
    id          text        PRIMARY KEY,
    org_id      text        NOT NULL,
    name        text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('buildings');

CREATE TABLE units (
    id           text        PRIMARY KEY,
    org_id       text        NOT NULL,
    building_id  text        NOT NULL,
    name         text        NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('units');

CREATE TABLE members (
    id          text        PRIMARY KEY,
    org_id      text        NOT NULL,
    name        text        NOT NULL,
    role        text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('members');
