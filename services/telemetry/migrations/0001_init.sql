-- Telemetry: sensors, raw readings (daily partitions), minute rollups, last values, alert rules and alerts.

-- Local projection of property.events: which buildings and units exist (sensor registration checks it).
CREATE TABLE buildings (
    id         text PRIMARY KEY,
    org_id     text NOT NULL,
    deleted    boolean NOT NULL DEFAULT false
);
SELECT enable_org_rls('buildings');

CREATE TABLE units (
    id          text PRIMARY KEY,
    org_id      text NOT NULL,
    building_id text NOT NULL,
    deleted     boolean NOT NULL DEFAULT false
);
SELECT enable_org_rls('units');

CREATE TABLE sensors (
    id                    text PRIMARY KEY,
    org_id                text NOT NULL,
    building_id           text NOT NULL,
    unit_id               text,
    kind                  text NOT NULL,
    unit_of_measure       text NOT NULL,
    name                  text NOT NULL,
    external_id           text,
    offline_after_seconds integer,
    status                text NOT NULL DEFAULT 'active',
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sensors_external_id ON sensors (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX sensors_org_building ON sensors (org_id, building_id, created_at DESC);
SELECT enable_org_rls('sensors');

-- Each sensor's latest reading (by timestamp) and when anything was last heard from it.
CREATE TABLE sensor_state (
    sensor_id  text PRIMARY KEY,
    org_id     text NOT NULL,
    last_ts    timestamptz NOT NULL,
    last_value double precision NOT NULL,
    last_seen  timestamptz NOT NULL
);
SELECT enable_org_rls('sensor_state');

-- Raw readings: one row per (sensor, timestamp), daily range partitions created ahead by a job.
CREATE TABLE readings (
    sensor_id text NOT NULL,
    ts        timestamptz NOT NULL,
    value     double precision NOT NULL,
    org_id    text NOT NULL,
    PRIMARY KEY (sensor_id, ts)
) PARTITION BY RANGE (ts);
SELECT enable_org_rls('readings');

-- Minute rollups, kept much longer than raw rows; coarser intervals aggregate these.
CREATE TABLE rollups_1m (
    sensor_id  text NOT NULL,
    bucket     timestamptz NOT NULL,
    org_id     text NOT NULL,
    n          bigint NOT NULL,
    total      double precision NOT NULL,
    min_value  double precision NOT NULL,
    max_value  double precision NOT NULL,
    last_ts    timestamptz NOT NULL,
    last_value double precision NOT NULL,
    PRIMARY KEY (sensor_id, bucket)
);
CREATE INDEX rollups_1m_bucket ON rollups_1m (bucket);
SELECT enable_org_rls('rollups_1m');

-- Per-org retention overrides (absent row = service defaults).
CREATE TABLE org_settings (
    org_id                text PRIMARY KEY,
    raw_retention_days    integer NOT NULL,
    rollup_retention_days integer NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
SELECT enable_org_rls('org_settings');

-- Creates the day's partition if missing (serialised: two writers may race for the same day).
CREATE FUNCTION ensure_readings_partition(day date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    name text := 'readings_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('telemetry-partitions'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
                   name, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
    RETURN true;
END $$;

CREATE TABLE alert_rules (
    id             text PRIMARY KEY,
    org_id         text NOT NULL,
    name           text NOT NULL,
    sensor_id      text,
    kind           text,
    building_id    text,
    condition      text NOT NULL,
    threshold      double precision,
    threshold_high double precision,
    for_seconds    integer NOT NULL DEFAULT 0,
    severity       text NOT NULL,
    enabled        boolean NOT NULL DEFAULT true,
    is_default     boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alert_rules_one_default ON alert_rules (org_id) WHERE is_default;
SELECT enable_org_rls('alert_rules');

-- Alert episodes: raised once, cleared once.
CREATE TABLE alerts (
    id          text PRIMARY KEY,
    org_id      text NOT NULL,
    rule_id     text,
    sensor_id   text NOT NULL,
    sensor_kind text NOT NULL,
    building_id text NOT NULL,
    unit_id     text,
    severity    text NOT NULL,
    condition   text NOT NULL,
    threshold   double precision,
    value       double precision,
    state       text NOT NULL,
    raised_at   timestamptz NOT NULL,
    cleared_at  timestamptz,
    clear_value double precision
);
CREATE INDEX alerts_org_raised ON alerts (org_id, raised_at DESC);
CREATE INDEX alerts_active_offline ON alerts (sensor_id) WHERE state = 'raised' AND condition = 'offline';
SELECT enable_org_rls('alerts');

-- Where each (rule, sensor) evaluation stands: the condition's start and the open episode, if any.
-- `rule_key` is the rule id, or 'offline' for the silence check.
CREATE TABLE alert_state (
    rule_key        text NOT NULL,
    sensor_id       text NOT NULL,
    org_id          text NOT NULL,
    last_ts         timestamptz NOT NULL,
    pending_since   timestamptz,
    active_alert_id text,
    PRIMARY KEY (rule_key, sensor_id)
);
SELECT enable_org_rls('alert_state');
