"""All SQL of the telemetry service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

Row = asyncpg.Record

# ------------------------------------------------------------------ property projection


async def upsert_building(conn: asyncpg.Connection, *, building_id: str, org_id: str, deleted: bool) -> None:
    await conn.execute(
        "INSERT INTO buildings (id, org_id, deleted) VALUES ($1, $2, $3)"
        " ON CONFLICT (id) DO UPDATE SET deleted = excluded.deleted", building_id, org_id, deleted)


async def upsert_unit(conn: asyncpg.Connection, *, unit_id: str, org_id: str, building_id: str,
                      deleted: bool) -> None:
    await conn.execute(
        "INSERT INTO units (id, org_id, building_id, deleted) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (id) DO UPDATE SET building_id = excluded.building_id, deleted = excluded.deleted",
        unit_id, org_id, building_id, deleted)


async def building_exists(conn: asyncpg.Connection, building_id: str) -> bool:
    return bool(await conn.fetchval("SELECT NOT deleted FROM buildings WHERE id = $1", building_id))


async def unit_building(conn: asyncpg.Connection, unit_id: str) -> str | None:
    value = await conn.fetchval("SELECT building_id FROM units WHERE id = $1 AND NOT deleted", unit_id)
    return str(value) if value is not None else None


# ------------------------------------------------------------------ sensors

_SENSOR_VIEW = """
SELECT s.*, st.last_ts, st.last_value, st.last_seen
FROM sensors s LEFT JOIN sensor_state st ON st.sensor_id = s.id
"""


async def insert_sensor(conn: asyncpg.Connection, values: dict[str, Any]) -> Row:
    cols = list(values)
    row = await conn.fetchrow(
        f"INSERT INTO sensors ({', '.join(cols)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})"
        " RETURNING *", *values.values())
    assert row is not None
    return row


async def external_id_taken(conn: asyncpg.Connection, org_id: str, external_id: str, *,
                            except_id: str | None = None) -> bool:
    return bool(await conn.fetchval(
        "SELECT true FROM sensors WHERE org_id = $1 AND external_id = $2 AND id IS DISTINCT FROM $3",
        org_id, external_id, except_id))


async def get_sensor(conn: asyncpg.Connection, sensor_id: str, *, for_update: bool = False) -> Row | None:
    """The sensor with its last reading (`for_update` locks the sensor row, not its reading state)."""
    return await conn.fetchrow(_SENSOR_VIEW + " WHERE s.id = $1" + (" FOR UPDATE OF s" if for_update else ""),
                               sensor_id)


async def update_sensor(conn: asyncpg.Connection, sensor_id: str, fields: dict[str, Any]) -> Row:
    """Change `fields` (and bump updated_at, which the ETag follows); the sensor as it is now."""
    sets = "".join(f"{k} = ${i + 2}, " for i, k in enumerate(fields))
    await conn.execute(f"UPDATE sensors SET {sets}updated_at = now() WHERE id = $1", sensor_id, *fields.values())
    row = await get_sensor(conn, sensor_id)
    assert row is not None
    return row


async def list_sensors(
    conn: asyncpg.Connection, *, building_id: str | None, unit_id: str | None, kind: str | None,
    online: bool | None, q: str | None, status: str | None, default_offline: int, limit: int, offset: int,
) -> tuple[list[Row], int]:
    where, args = ["true"], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if building_id:
        where.append(f"s.building_id = {arg(building_id)}")
    if unit_id:
        where.append(f"s.unit_id = {arg(unit_id)}")
    if kind:
        where.append(f"s.kind = {arg(kind)}")
    if status:
        where.append(f"s.status = {arg(status)}")
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        p = arg(pattern)
        where.append(f"(s.name ILIKE {p} OR s.external_id ILIKE {p})")
    if online is not None:
        fresh = (f"(st.last_seen IS NOT NULL AND st.last_seen > now() - make_interval("
                 f"secs => coalesce(s.offline_after_seconds, {arg(default_offline)})))")
        where.append(fresh if online else f"NOT {fresh}")
    cond = " AND ".join(where)
    total = await conn.fetchval(
        f"SELECT count(*) FROM sensors s LEFT JOIN sensor_state st ON st.sensor_id = s.id WHERE {cond}", *args)
    rows = await conn.fetch(
        f"{_SENSOR_VIEW} WHERE {cond} ORDER BY s.created_at DESC, s.id DESC LIMIT {arg(limit)} OFFSET {arg(offset)}",
        *args)
    return list(rows), int(total)


async def org_sensors(conn: asyncpg.Connection) -> list[Row]:
    """Every sensor the transaction's org can see (for the ingest cache)."""
    return list(await conn.fetch(
        "SELECT id, org_id, kind, building_id, unit_id, status, external_id, offline_after_seconds FROM sensors"))


async def sensors_by_ids(conn: asyncpg.Connection, ids: Sequence[str]) -> list[Row]:
    return list(await conn.fetch(
        "SELECT id, org_id, kind, building_id, unit_id, status, external_id, offline_after_seconds"
        " FROM sensors WHERE id = ANY($1::text[])", list(ids)))


# ------------------------------------------------------------------ readings


async def ensure_partition(conn: asyncpg.Connection, day: Any) -> bool:
    return bool(await conn.fetchval("SELECT ensure_readings_partition($1::date)", day))


async def reading_partitions(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'readings'::regclass ORDER BY c.relname")
    return [r["relname"] for r in rows]


async def drop_partition(conn: asyncpg.Connection, name: str) -> None:
    await conn.execute(f'DROP TABLE IF EXISTS "{name}"')


INCOMING_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS incoming (
    sensor_id text, ts_us bigint, value double precision, org_id text, covered boolean
) ON COMMIT DELETE ROWS
"""

# The careful path, one statement per batch: new rows only (a redelivered reading conflicts and is
# skipped), and only those new rows feed the minute rollups and the last value, so a redelivery changes
# nothing. `covered` readings are the exception: stored by a writer that died before rolling them up
# (their `unrolled_batches` row is claimed in the same transaction), they are rolled up, not inserted.
WRITE_BATCH = """
WITH ins AS (
    INSERT INTO readings (sensor_id, ts, value, org_id)
    SELECT sensor_id, timestamptz 'epoch' + ts_us * interval '1 microsecond', value, org_id FROM incoming
    WHERE NOT covered
    ON CONFLICT DO NOTHING
    RETURNING sensor_id, ts, value, org_id
), fed AS (
    SELECT sensor_id, ts, value, org_id FROM ins
    UNION ALL
    SELECT sensor_id, timestamptz 'epoch' + ts_us * interval '1 microsecond', value, org_id FROM incoming
    WHERE covered
), roll AS (
    INSERT INTO rollups_1m AS r (sensor_id, bucket, org_id, n, total, min_value, max_value, last_ts, last_value)
    SELECT sensor_id, date_bin('1 minute', ts, timestamptz 'epoch') AS b, min(org_id), count(*), sum(value),
           min(value), max(value), max(ts), (array_agg(value ORDER BY ts DESC))[1]
    FROM fed GROUP BY sensor_id, b
    ON CONFLICT (sensor_id, bucket) DO UPDATE SET
        n = r.n + excluded.n, total = r.total + excluded.total,
        min_value = least(r.min_value, excluded.min_value), max_value = greatest(r.max_value, excluded.max_value),
        last_value = CASE WHEN excluded.last_ts > r.last_ts THEN excluded.last_value ELSE r.last_value END,
        last_ts = greatest(r.last_ts, excluded.last_ts)
    RETURNING 1
), latest AS (
    INSERT INTO sensor_state AS s (sensor_id, org_id, last_ts, last_value, last_seen)
    SELECT DISTINCT ON (sensor_id) sensor_id, org_id, ts, value, now() FROM fed ORDER BY sensor_id, ts DESC
    ON CONFLICT (sensor_id) DO UPDATE SET
        last_value = CASE WHEN excluded.last_ts >= s.last_ts THEN excluded.last_value ELSE s.last_value END,
        last_ts = greatest(s.last_ts, excluded.last_ts), last_seen = excluded.last_seen
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins) AS inserted, (SELECT count(*) FROM roll) AS buckets,
       (SELECT count(*) FROM latest) AS sensors
"""


# Which Kafka records a roll still owes (see migrations/0002_unrolled_batches.sql): one row per
# (topic, partition) of a batch stored by the fast path, written with its raw readings.
MARK_UNROLLED = """
INSERT INTO unrolled_batches (topic, kafka_partition, first_offset, last_offset)
SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[])
"""

# A roll deletes its batches' rows; one missing was claimed by a writer given those records again
# (which rolled them up itself), so the roll leaves that batch out.
UNMARK_ROLLED = """
DELETE FROM unrolled_batches u
USING unnest($1::text[], $2::int[], $3::bigint[]) AS b(topic, p, first)
WHERE u.topic = b.topic AND u.kafka_partition = b.p AND u.first_offset = b.first
RETURNING u.topic, u.kafka_partition, u.first_offset
"""

async def oldest_owed_roll_seconds(conn: asyncpg.Connection) -> float:
    """How long the oldest `unrolled_batches` row has waited (0 when none)."""
    return float(await conn.fetchval(
        "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM unrolled_batches"))


# The careful path claims the rows overlapping its records ((topic, partition, lowest, highest offset)):
# their readings are stored already and this transaction rolls them up. A claimed row reaching past the
# batch leaves its tail behind for the next batch. (None starts before a redelivered batch: Kafka offsets
# are committed only after the roll that deletes the row.)
CLAIM_UNROLLED = """
WITH claimed AS (
    DELETE FROM unrolled_batches u
    USING unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) AS b(topic, p, lo, hi)
    WHERE u.topic = b.topic AND u.kafka_partition = b.p AND u.first_offset <= b.hi AND u.last_offset >= b.lo
    RETURNING u.topic, u.kafka_partition, u.first_offset, u.last_offset, b.hi
), tail AS (
    INSERT INTO unrolled_batches (topic, kafka_partition, first_offset, last_offset)
    SELECT topic, kafka_partition, hi + 1, last_offset FROM claimed WHERE last_offset > hi
)
SELECT topic, kafka_partition, first_offset, least(last_offset, hi) AS last_offset FROM claimed
"""

# A roll (every reading in it was new when stored): its minute rollups and last values, computed in
# Python from its batches, merged with what is stored. Timestamps travel as epoch microseconds.
# (Arrays arrive as text literals: see copy_binary.number_array.)
MERGE_ROLLUPS = """
INSERT INTO rollups_1m AS r (sensor_id, bucket, org_id, n, total, min_value, max_value, last_ts, last_value)
SELECT s, timestamptz 'epoch' + b * interval '1 microsecond', o, n, t, lo, hi,
       timestamptz 'epoch' + lt * interval '1 microsecond', lv
FROM unnest($1::text::text[], $2::text::bigint[], $3::text::text[], $4::text::bigint[], $5::text::float8[],
            $6::text::float8[], $7::text::float8[], $8::text::bigint[], $9::text::float8[])
     AS u(s, b, o, n, t, lo, hi, lt, lv)
ON CONFLICT (sensor_id, bucket) DO UPDATE SET
    n = r.n + excluded.n, total = r.total + excluded.total,
    min_value = least(r.min_value, excluded.min_value), max_value = greatest(r.max_value, excluded.max_value),
    last_value = CASE WHEN excluded.last_ts > r.last_ts THEN excluded.last_value ELSE r.last_value END,
    last_ts = greatest(r.last_ts, excluded.last_ts)
"""

MERGE_LATEST = """
INSERT INTO sensor_state AS s (sensor_id, org_id, last_ts, last_value, last_seen)
SELECT id, o, timestamptz 'epoch' + ts * interval '1 microsecond', v, now()
FROM unnest($1::text::text[], $2::text::text[], $3::text::bigint[], $4::text::float8[]) AS u(id, o, ts, v)
ON CONFLICT (sensor_id) DO UPDATE SET
    last_value = CASE WHEN excluded.last_ts >= s.last_ts THEN excluded.last_value ELSE s.last_value END,
    last_ts = greatest(s.last_ts, excluded.last_ts), last_seen = excluded.last_seen
"""


def partition_name(day: Any) -> str:
    """The daily partition of `readings` holding `day` (as `ensure_readings_partition` names it)."""
    return f"readings_{day:%Y%m%d}"


async def raw_series(conn: asyncpg.Connection, sensor_id: str, start: datetime, end: datetime, *,
                     limit: int, after: datetime | None = None) -> list[Row]:
    """Rows in [start, end), or after the cursor `after` (exclusive) when paging on."""
    if after is not None:
        return list(await conn.fetch(
            "SELECT ts, value FROM readings WHERE sensor_id = $1 AND ts > $2 AND ts < $3 ORDER BY ts LIMIT $4",
            sensor_id, after, end, limit))
    return list(await conn.fetch(
        "SELECT ts, value FROM readings WHERE sensor_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4",
        sensor_id, start, end, limit))


_AGG_SQL = {
    "avg": "sum(total) / sum(n)",
    "min": "min(min_value)",
    "max": "max(max_value)",
    "count": "sum(n)::double precision",
    "last": "(array_agg(last_value ORDER BY last_ts DESC))[1]",
}


async def rollup_series(conn: asyncpg.Connection, sensor_id: str, start: datetime, end: datetime, *,
                        seconds: int, agg: str) -> list[Row]:
    """Buckets of `seconds` (aligned to the epoch, UTC) whose minutes fall in [start, end)."""
    expr = _AGG_SQL[agg]
    return list(await conn.fetch(
        f"SELECT date_bin(make_interval(secs => $4), bucket, timestamptz 'epoch') AS ts, {expr} AS value"
        " FROM rollups_1m WHERE sensor_id = $1 AND bucket >= $2 AND bucket < $3 GROUP BY 1 ORDER BY 1",
        sensor_id, start, end, seconds))


async def retention_of(conn: asyncpg.Connection, org_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM org_settings WHERE org_id = $1", org_id)


async def set_retention(conn: asyncpg.Connection, org_id: str, raw_days: int, rollup_days: int) -> None:
    await conn.execute(
        "INSERT INTO org_settings (org_id, raw_retention_days, rollup_retention_days) VALUES ($1, $2, $3)"
        " ON CONFLICT (org_id) DO UPDATE SET raw_retention_days = excluded.raw_retention_days,"
        " rollup_retention_days = excluded.rollup_retention_days, updated_at = now()",
        org_id, raw_days, rollup_days)


async def all_retention(conn: asyncpg.Connection) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM org_settings"))


async def delete_raw_before(conn: asyncpg.Connection, before: datetime, *, org_id: str | None = None,
                            exclude_orgs: Sequence[str] = ()) -> int:
    """Raw rows older than `before`: of one org, or of every org but `exclude_orgs`."""
    return await _delete_before(conn, "readings", "ts", before, org_id=org_id, exclude_orgs=exclude_orgs)


async def delete_rollups_before(conn: asyncpg.Connection, before: datetime, *, org_id: str | None = None,
                                exclude_orgs: Sequence[str] = ()) -> int:
    """Minute rollups older than `before`, chosen like `delete_raw_before`."""
    return await _delete_before(conn, "rollups_1m", "bucket", before, org_id=org_id, exclude_orgs=exclude_orgs)


async def _delete_before(conn: asyncpg.Connection, table: str, column: str, before: datetime, *,
                         org_id: str | None, exclude_orgs: Sequence[str]) -> int:
    # (`table` and `column` are the two literals above, never input)
    if org_id is not None:
        result = await conn.execute(f"DELETE FROM {table} WHERE org_id = $1 AND {column} < $2", org_id, before)
    else:
        result = await conn.execute(f"DELETE FROM {table} WHERE {column} < $1 AND org_id <> ALL($2::text[])",
                                    before, list(exclude_orgs))
    return int(result.split()[-1])


# ------------------------------------------------------------------ alert rules


async def ensure_default_rule(conn: asyncpg.Connection, org_id: str, rule_id: str) -> Row | None:
    """Create the org's default water-leak rule; the new row, or None when the org has it already."""
    return await conn.fetchrow(
        "INSERT INTO alert_rules (id, org_id, name, kind, condition, threshold, for_seconds, severity, is_default)"
        " VALUES ($1, $2, 'Water leak detected', 'water_leak', 'equals', 1, 0, 'critical', true)"
        " ON CONFLICT (org_id) WHERE is_default DO NOTHING RETURNING *", rule_id, org_id)


async def insert_rule(conn: asyncpg.Connection, values: dict[str, Any]) -> Row:
    cols = list(values)
    row = await conn.fetchrow(
        f"INSERT INTO alert_rules ({', '.join(cols)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})"
        " RETURNING *", *values.values())
    assert row is not None
    return row


async def get_rule(conn: asyncpg.Connection, rule_id: str, *, for_update: bool = False) -> Row | None:
    return await conn.fetchrow("SELECT * FROM alert_rules WHERE id = $1" + (" FOR UPDATE" if for_update else ""),
                               rule_id)


async def update_rule(conn: asyncpg.Connection, rule_id: str, fields: dict[str, Any]) -> Row:
    sets = ", ".join(f"{k} = ${i + 2}" for i, k in enumerate(fields))
    row = await conn.fetchrow(f"UPDATE alert_rules SET {sets}, updated_at = now() WHERE id = $1 RETURNING *",
                              rule_id, *fields.values())
    assert row is not None
    return row


async def delete_rule(conn: asyncpg.Connection, rule_id: str) -> None:
    await conn.execute("DELETE FROM alert_rules WHERE id = $1", rule_id)
    await conn.execute("DELETE FROM alert_state WHERE rule_key = $1", rule_id)


async def list_rules(conn: asyncpg.Connection, *, limit: int, offset: int) -> tuple[list[Row], int]:
    total = await conn.fetchval("SELECT count(*) FROM alert_rules")
    rows = await conn.fetch("SELECT * FROM alert_rules ORDER BY created_at, id LIMIT $1 OFFSET $2", limit, offset)
    return list(rows), int(total)


async def enabled_rules(conn: asyncpg.Connection, org_ids: Sequence[str]) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM alert_rules WHERE enabled AND org_id = ANY($1::text[])",
                                 list(org_ids)))


# ------------------------------------------------------------------ alerts


async def episode_states(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> list[Row]:
    return list(await conn.fetch(
        "SELECT st.*, a.raised_at FROM alert_state st LEFT JOIN alerts a ON a.id = st.active_alert_id"
        " WHERE (st.rule_key, st.sensor_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        [k[0] for k in keys], [k[1] for k in keys]))


async def save_episode_states(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """(rule_key, sensor_id, org_id, last_ts, pending_since, active_alert_id) rows, upserted."""
    if not rows:
        return
    cols = list(zip(*rows, strict=True))
    await conn.execute(
        "INSERT INTO alert_state (rule_key, sensor_id, org_id, last_ts, pending_since, active_alert_id)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[])"
        " ON CONFLICT (rule_key, sensor_id) DO UPDATE SET last_ts = excluded.last_ts,"
        " pending_since = excluded.pending_since, active_alert_id = excluded.active_alert_id",
        *[list(c) for c in cols])


async def insert_alert(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    cols = list(values)
    await conn.execute(
        f"INSERT INTO alerts ({', '.join(cols)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(cols)))})",
        *values.values())


async def clear_alert(conn: asyncpg.Connection, alert_id: str, *, cleared_at: datetime,
                      value: float | None) -> Row | None:
    return await conn.fetchrow(
        "UPDATE alerts SET state = 'cleared', cleared_at = $2, clear_value = $3 WHERE id = $1 AND state = 'raised'"
        " RETURNING *", alert_id, cleared_at, value)


async def active_offline_alerts(conn: asyncpg.Connection, sensor_ids: Sequence[str]) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM alerts WHERE state = 'raised' AND condition = 'offline' AND sensor_id = ANY($1::text[])",
        list(sensor_ids)))


async def silent_sensors(conn: asyncpg.Connection, *, default_seconds: int, limit: int = 1000) -> list[Row]:
    """Active sensors heard from before but not within their offline window, without an open offline alert."""
    return list(await conn.fetch(
        "SELECT s.*, st.last_seen FROM sensors s JOIN sensor_state st ON st.sensor_id = s.id"
        " WHERE s.status = 'active'"
        " AND st.last_seen < now() - make_interval(secs => coalesce(s.offline_after_seconds, $1))"
        " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.sensor_id = s.id AND a.state = 'raised'"
        "                 AND a.condition = 'offline')"
        " LIMIT $2", default_seconds, limit))


async def get_alert(conn: asyncpg.Connection, alert_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM alerts WHERE id = $1", alert_id)


async def list_alerts(
    conn: asyncpg.Connection, *, sensor_id: str | None, building_id: str | None, state: str | None,
    severity: str | None, since: datetime | None, limit: int, offset: int,
) -> tuple[list[Row], int]:
    where: list[str] = ["true"]
    args: list[Any] = []
    for col, value in (("sensor_id", sensor_id), ("building_id", building_id), ("state", state),
                       ("severity", severity)):
        if value is not None:
            args.append(value)
            where.append(f"{col} = ${len(args)}")
    if since is not None:
        args.append(since)
        where.append(f"(raised_at >= ${len(args)} OR cleared_at >= ${len(args)})")
    cond = " AND ".join(where)
    total = await conn.fetchval(f"SELECT count(*) FROM alerts WHERE {cond}", *args)
    rows = await conn.fetch(
        f"SELECT * FROM alerts WHERE {cond} ORDER BY raised_at DESC, id DESC"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}", *args, limit, offset)
    return list(rows), int(total)
