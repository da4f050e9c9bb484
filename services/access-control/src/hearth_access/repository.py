"""All SQL of the access-control service (RLS scopes every query to the transaction's org)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

Row = asyncpg.Record


async def _fetch_one(conn: asyncpg.Connection, sql: str, *args: Any) -> Row:
    """A statement that always returns a row (INSERT/UPDATE ... RETURNING on a row known to exist)."""
    row = await conn.fetchrow(sql, *args)
    if row is None:
        raise LookupError("expected a row")
    return row

# --- projections ---------------------------------------------------------------------------------


async def upsert_building(conn: asyncpg.Connection, *, building_id: str, org_id: str, timezone: str,
                          deleted: bool = False) -> None:
    await conn.execute(
        "INSERT INTO buildings (id, org_id, timezone, deleted) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (id) DO UPDATE SET timezone = excluded.timezone, deleted = excluded.deleted, updated_at = now()",
        building_id, org_id, timezone, deleted)


async def upsert_unit(conn: asyncpg.Connection, *, unit_id: str, org_id: str, building_id: str,
                      deleted: bool = False) -> None:
    await conn.execute(
        "INSERT INTO units (id, org_id, building_id, deleted) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (id) DO UPDATE SET building_id = excluded.building_id, deleted = excluded.deleted,"
        " updated_at = now()", unit_id, org_id, building_id, deleted)


async def mark_unit_deleted(conn: asyncpg.Connection, unit_id: str) -> None:
    await conn.execute("UPDATE units SET deleted = true, updated_at = now() WHERE id = $1", unit_id)


async def building(conn: asyncpg.Connection, building_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM buildings WHERE id = $1 AND NOT deleted", building_id)


async def unit(conn: asyncpg.Connection, unit_id: str) -> Row | None:
    return await conn.fetchrow(
        "SELECT u.*, b.timezone FROM units u LEFT JOIN buildings b ON b.id = u.building_id"
        " WHERE u.id = $1 AND NOT u.deleted", unit_id)


# --- vendors and listings ---------------------------------------------------------------------------


async def insert_vendor(conn: asyncpg.Connection, *, vendor_id: str, org_id: str, name: str, base_url: str,
                        permanent_token: str) -> Row | None:
    """The new vendor, or None when the org already has one with that name."""
    return await conn.fetchrow(
        "INSERT INTO vendors (id, org_id, name, kind, base_url, permanent_token) VALUES ($1, $2, $3, 'aurmur', $4, $5)"
        " ON CONFLICT (org_id, name) DO NOTHING RETURNING *", vendor_id, org_id, name, base_url, permanent_token)


async def vendor(conn: asyncpg.Connection, vendor_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM vendors WHERE id = $1", vendor_id)


async def vendors(conn: asyncpg.Connection, *, limit: int, offset: int) -> tuple[list[Row], int]:
    rows = await conn.fetch("SELECT *, count(*) OVER () AS total FROM vendors ORDER BY created_at DESC, id"
                            " LIMIT $1 OFFSET $2", limit, offset)
    total = rows[0]["total"] if rows else await conn.fetchval("SELECT count(*) FROM vendors")
    return list(rows), int(total)


async def all_vendors(conn: asyncpg.Connection) -> list[Row]:
    """Every org's vendor accounts (system transaction: the background jobs)."""
    return list(await conn.fetch("SELECT id, org_id FROM vendors ORDER BY id"))


async def save_vendor_token(conn: asyncpg.Connection, vendor_id: str, *, sealed: str, expires: float) -> None:
    await conn.execute("UPDATE vendors SET temporary_token = $2, temporary_expires = $3 WHERE id = $1",
                       vendor_id, sealed, expires)


async def set_vendor_health(conn: asyncpg.Connection, vendor_id: str, *, ok: bool, error: str | None,
                            synced: bool = False) -> None:
    await conn.execute(
        "UPDATE vendors SET status = CASE WHEN $2 THEN 'ok' ELSE 'degraded' END, last_error = $3,"
        " last_sync_at = CASE WHEN $4 THEN now() ELSE last_sync_at END, updated_at = now() WHERE id = $1",
        vendor_id, ok, error, synced)


async def degraded_vendor_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM vendors WHERE status = 'degraded'"))


async def set_events_seen(conn: asyncpg.Connection, vendor_id: str, *, cursor: float) -> None:
    await conn.execute("UPDATE vendors SET events_primed = true, events_cursor = greatest(events_cursor, $2)"
                       " WHERE id = $1", vendor_id, cursor)


async def upsert_listing(conn: asyncpg.Connection, *, listing_id: str, org_id: str, vendor_id: str,
                         vendor_listing_id: str, name: str, code_length: int, timezone: str,
                         linked_locks: list[str]) -> Row:
    return await _fetch_one(conn,
        "INSERT INTO listings (id, org_id, vendor_id, vendor_listing_id, name, code_length, timezone, linked_locks)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (vendor_id, vendor_listing_id) DO UPDATE SET name = excluded.name,"
        " code_length = excluded.code_length, timezone = excluded.timezone, linked_locks = excluded.linked_locks,"
        " updated_at = now() RETURNING *",
        listing_id, org_id, vendor_id, vendor_listing_id, name, code_length, timezone, linked_locks)


async def listings(conn: asyncpg.Connection, vendor_id: str) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM listings WHERE vendor_id = $1 ORDER BY name, id", vendor_id))


async def listing(conn: asyncpg.Connection, listing_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM listings WHERE id = $1", listing_id)


async def map_listing(conn: asyncpg.Connection, listing_id: str, *, building_id: str | None,
                      unit_id: str | None) -> Row:
    return await _fetch_one(conn,
        "UPDATE listings SET building_id = $2, unit_id = $3, updated_at = now() WHERE id = $1 RETURNING *",
        listing_id, building_id, unit_id)


async def place_locks_of_listing(conn: asyncpg.Connection, listing: Row) -> None:
    """Locks linked to a listing take its building/unit (a unit listing wins over a building's common doors)."""
    await conn.execute(
        "UPDATE locks SET listing_id = $1, building_id = $2, unit_id = $3, code_length_min = $4,"
        " code_length_max = $4, updated_at = now()"
        " WHERE vendor_id = $5 AND vendor_lock_id = ANY($6::text[])"
        " AND ($3::text IS NOT NULL OR unit_id IS NULL)",
        listing["id"], listing["building_id"], listing["unit_id"], listing["code_length"], listing["vendor_id"],
        listing["linked_locks"])


# --- locks ------------------------------------------------------------------------------------------


async def upsert_lock(conn: asyncpg.Connection, *, lock_id: str, org_id: str, vendor_id: str,
                      vendor_lock_id: str, name: str, model: str | None, max_codes: int) -> Row:
    return await _fetch_one(conn,
        "INSERT INTO locks (id, org_id, vendor_id, vendor_lock_id, name, model, max_codes)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (vendor_id, vendor_lock_id) DO UPDATE SET name = excluded.name, model = excluded.model,"
        " updated_at = now() RETURNING *, (xmax = 0) AS inserted",
        lock_id, org_id, vendor_id, vendor_lock_id, name, model, max_codes)


async def lock(conn: asyncpg.Connection, lock_id: str, *, for_update: bool = False) -> Row | None:
    return await conn.fetchrow("SELECT * FROM locks WHERE id = $1" + (" FOR UPDATE" if for_update else ""), lock_id)


async def locks_of_vendor(conn: asyncpg.Connection, vendor_id: str) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM locks WHERE vendor_id = $1", vendor_id))


async def locks_of_listing(conn: asyncpg.Connection, listing_id: str) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM locks WHERE listing_id = $1", listing_id))


async def locks_by_ids(conn: asyncpg.Connection, lock_ids: Sequence[str]) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM locks WHERE id = ANY($1::text[]) ORDER BY id", list(lock_ids)))


async def locks_of_building(conn: asyncpg.Connection, building_id: str) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM locks WHERE building_id = $1 ORDER BY id", building_id))


async def locks_for_unit(conn: asyncpg.Connection, *, unit_id: str, building_id: str) -> list[Row]:
    """The unit's own locks plus its building's common doors."""
    return list(await conn.fetch(
        "SELECT * FROM locks WHERE unit_id = $1 OR (building_id = $2 AND unit_id IS NULL) ORDER BY id",
        unit_id, building_id))


async def list_locks(conn: asyncpg.Connection, *, building_id: str | None, unit_id: str | None, state: str | None,
                     online: bool | None, battery_below: int | None, limit: int, offset: int) -> tuple[list[Row], int]:
    rows = await conn.fetch(
        "SELECT *, count(*) OVER () AS total FROM locks"
        " WHERE ($1::text IS NULL OR building_id = $1) AND ($2::text IS NULL OR unit_id = $2)"
        " AND ($3::text IS NULL OR state = $3) AND ($4::boolean IS NULL OR online = $4)"
        " AND ($5::int IS NULL OR battery_pct < $5)"
        " ORDER BY name, id LIMIT $6 OFFSET $7",
        building_id, unit_id, state, online, battery_below, limit, offset)
    return list(rows), int(rows[0]["total"]) if rows else 0


async def update_lock_status(conn: asyncpg.Connection, lock_id: str, *, state: str, battery: int | None,
                             online: bool, seen: datetime | None, observed_at: datetime) -> None:
    """A polled status; its state is kept only if nothing (a command's outcome) changed the lock since the poll."""
    await conn.execute(
        "UPDATE locks SET state = CASE WHEN updated_at <= $6 THEN $2 ELSE state END,"
        " battery_pct = COALESCE($3, battery_pct), online = $4,"
        " last_seen = COALESCE($5, last_seen), updated_at = now() WHERE id = $1",
        lock_id, state, battery, online, seen, observed_at)


async def update_lock_statuses(conn: asyncpg.Connection, rows: list[tuple[str, str, int | None, bool, datetime]],
                               *, observed_at: datetime) -> None:
    """Many polled statuses (lock id, state, battery, online, last seen) in one statement; a state is kept
    only if nothing (a command's outcome) changed the lock since the poll began."""
    if not rows:
        return
    ids, states, batteries, onlines, seens = (list(col) for col in zip(*rows, strict=True))
    await conn.execute(
        "UPDATE locks l SET state = CASE WHEN l.updated_at <= $6 THEN s.state ELSE l.state END,"
        " battery_pct = COALESCE(s.battery, l.battery_pct), online = s.online,"
        " last_seen = COALESCE(s.seen, l.last_seen), updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::int[], $4::bool[], $5::timestamptz[])"
        " AS s(id, state, battery, online, seen) WHERE l.id = s.id",
        ids, states, batteries, onlines, seens, observed_at)


async def set_lock_state(conn: asyncpg.Connection, lock_id: str, state: str) -> None:
    await conn.execute("UPDATE locks SET state = $2, updated_at = now() WHERE id = $1", lock_id, state)


# --- action attempts ----------------------------------------------------------------------------------


async def recent_attempts(conn: asyncpg.Connection, *, lock_id: str, action: str,
                          seconds: float) -> tuple[int, datetime | None]:
    """How many commands of this kind the lock got in the window, and the oldest one's time."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, min(created_at) AS oldest FROM action_attempts"
        " WHERE lock_id = $1 AND action = $2 AND created_at > now() - make_interval(secs => $3)",
        lock_id, action, seconds)
    assert row is not None
    return int(row["n"]), row["oldest"]


async def insert_attempt(conn: asyncpg.Connection, *, attempt_id: str, org_id: str, lock_id: str, action: str,
                         expires_at: datetime, requested_by: str | None, lockdown_id: str | None = None) -> Row:
    return await _fetch_one(conn,
        "INSERT INTO action_attempts (id, org_id, lock_id, action, expires_at, requested_by, lockdown_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        attempt_id, org_id, lock_id, action, expires_at, requested_by, lockdown_id)


async def attempt(conn: asyncpg.Connection, attempt_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM action_attempts WHERE id = $1", attempt_id)


async def attempts_of_lockdown(conn: asyncpg.Connection, lockdown_id: str) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM action_attempts WHERE lockdown_id = $1 ORDER BY created_at, id",
                                 lockdown_id))


async def list_attempts(conn: asyncpg.Connection, *, lock_id: str | None, status: str | None, limit: int,
                        offset: int) -> tuple[list[Row], int]:
    rows = await conn.fetch(
        "SELECT *, count(*) OVER () AS total FROM action_attempts"
        " WHERE ($1::text IS NULL OR lock_id = $1) AND ($2::text IS NULL OR status = $2)"
        " ORDER BY created_at DESC, id LIMIT $3 OFFSET $4", lock_id, status, limit, offset)
    return list(rows), int(rows[0]["total"]) if rows else 0


async def claim_attempt(conn: asyncpg.Connection, attempt_id: str) -> Row | None:
    """Mark a pending, unexpired, unclaimed attempt as being carried out; None when it is not."""
    return await conn.fetchrow(
        "UPDATE action_attempts SET claimed_at = now() WHERE id = $1 AND status = 'pending'"
        " AND claimed_at IS NULL AND expires_at > now() RETURNING *", attempt_id)


async def finish_attempt(conn: asyncpg.Connection, attempt_id: str, *, error_type: str | None,
                         error_message: str | None) -> Row | None:
    """End a pending attempt (once): success without an error type, error with one."""
    return await conn.fetchrow(
        "UPDATE action_attempts SET status = CASE WHEN $2::text IS NULL THEN 'success' ELSE 'error' END,"
        " error_type = $2, error_message = $3, finished_at = now()"
        " WHERE id = $1 AND status = 'pending' RETURNING *", attempt_id, error_type, error_message)


async def expired_attempts(conn: asyncpg.Connection, *, grace_seconds: float) -> list[Row]:
    """Pending attempts past expiry: unclaimed ones at once, claimed ones after the vendor call's grace."""
    return list(await conn.fetch(
        "SELECT id, org_id, claimed_at FROM action_attempts WHERE status = 'pending' AND ("
        " (claimed_at IS NULL AND expires_at <= now())"
        " OR (claimed_at IS NOT NULL AND expires_at + make_interval(secs => $1) <= now())) LIMIT 500",
        grace_seconds))


# --- lock events --------------------------------------------------------------------------------------


async def insert_lock_event(conn: asyncpg.Connection, *, event_id: str, org_id: str, lock_id: str,
                            vendor_event_id: str | None, type_: str, method: str | None,
                            access_code_id: str | None, battery: int | None, at: datetime) -> bool:
    """Record a lock event; False when the vendor event was already recorded."""
    inserted = await conn.fetchval(
        "INSERT INTO lock_events (id, org_id, lock_id, vendor_event_id, type, method, access_code_id, battery_pct,"
        " occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (lock_id, vendor_event_id) WHERE vendor_event_id IS NOT NULL DO NOTHING RETURNING 1",
        event_id, org_id, lock_id, vendor_event_id, type_, method, access_code_id, battery, at)
    return inserted is not None


async def list_lock_events(conn: asyncpg.Connection, *, lock_id: str | None, type_: str | None,
                           since: datetime | None, until: datetime | None, limit: int,
                           offset: int) -> tuple[list[Row], int]:
    rows = await conn.fetch(
        "SELECT *, count(*) OVER () AS total FROM lock_events"
        " WHERE ($1::text IS NULL OR lock_id = $1) AND ($2::text IS NULL OR type = $2)"
        " AND ($3::timestamptz IS NULL OR occurred_at >= $3) AND ($4::timestamptz IS NULL OR occurred_at < $4)"
        " ORDER BY occurred_at DESC, id LIMIT $5 OFFSET $6", lock_id, type_, since, until, limit, offset)
    return list(rows), int(rows[0]["total"]) if rows else 0


# --- access codes --------------------------------------------------------------------------------------


async def insert_code(conn: asyncpg.Connection, *, code_id: str, org_id: str, name: str, code: str, purpose: str,
                      unit_id: str | None, building_id: str | None, lease_id: str | None, request_id: str | None,
                      resident_id: str | None, unlock_notifications: str | None, schedule: dict[str, Any],
                      timezone: str) -> Row | None:
    """Insert a code; None when an automation's code for that request / lease resident already exists."""
    return await conn.fetchrow(
        "INSERT INTO access_codes (id, org_id, name, code, purpose, unit_id, building_id, lease_id, request_id,"
        " resident_id, unlock_notifications, schedule, timezone)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING RETURNING *",
        code_id, org_id, name, code, purpose, unit_id, building_id, lease_id, request_id, resident_id,
        unlock_notifications, json.dumps(schedule), timezone)


async def code(conn: asyncpg.Connection, code_id: str, *, for_update: bool = False) -> Row | None:
    return await conn.fetchrow("SELECT * FROM access_codes WHERE id = $1" + (" FOR UPDATE" if for_update else ""),
                               code_id)


async def code_for_request(conn: asyncpg.Connection, request_id: str) -> Row | None:
    """The request's technician code: the live one, else the newest one being (or already) removed."""
    return await conn.fetchrow(
        "SELECT * FROM access_codes WHERE request_id = $1 AND purpose = 'technician'"
        " ORDER BY deleted, created_at DESC LIMIT 1 FOR UPDATE", request_id)


async def codes_for_lease(conn: asyncpg.Connection, lease_id: str) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM access_codes WHERE lease_id = $1 FOR UPDATE", lease_id))


async def list_codes(conn: asyncpg.Connection, *, unit_id: str | None, lock_id: str | None, purpose: str | None,
                     lease_id: str | None, request_id: str | None, include_removed: bool, limit: int,
                     offset: int) -> tuple[list[Row], int]:
    rows = await conn.fetch(
        "SELECT *, count(*) OVER () AS total FROM access_codes c"
        " WHERE ($1::text IS NULL OR unit_id = $1)"
        " AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM code_locks cl WHERE cl.code_id = c.id AND cl.lock_id = $2))"
        " AND ($3::text IS NULL OR purpose = $3) AND ($4::text IS NULL OR lease_id = $4)"
        " AND ($5::text IS NULL OR request_id = $5) AND ($6 OR removed_at IS NULL)"
        " ORDER BY created_at DESC, id LIMIT $7 OFFSET $8",
        unit_id, lock_id, purpose, lease_id, request_id, include_removed, limit, offset)
    return list(rows), int(rows[0]["total"]) if rows else 0


async def update_code(conn: asyncpg.Connection, code_id: str, *, name: str, schedule: dict[str, Any],
                      unlock_notifications: str | None) -> Row:
    return await _fetch_one(conn,
        "UPDATE access_codes SET name = $2, schedule = $3, unlock_notifications = $4, updated_at = now()"
        " WHERE id = $1 RETURNING *", code_id, name, json.dumps(schedule), unlock_notifications)


async def mark_code_deleted(conn: asyncpg.Connection, code_id: str) -> None:
    await conn.execute("UPDATE access_codes SET deleted = true, updated_at = now() WHERE id = $1", code_id)
    await conn.execute("UPDATE code_listings SET attempts = 0, next_attempt_at = now(), gave_up = false"
                       " WHERE code_id = $1", code_id)


async def mark_code_removed(conn: asyncpg.Connection, code_id: str) -> None:
    await conn.execute("UPDATE access_codes SET removed_at = now() WHERE id = $1 AND removed_at IS NULL", code_id)


async def mark_first_use(conn: asyncpg.Connection, code_id: str, at: datetime) -> bool:
    """True when this is the code's first recorded use."""
    done = await conn.fetchval(
        "UPDATE access_codes SET first_used_at = $2 WHERE id = $1 AND first_used_at IS NULL RETURNING 1", code_id, at)
    return done is not None


async def codes_on_locks(conn: asyncpg.Connection, lock_ids: Sequence[str], *, exclude: str | None = None) -> list[Row]:
    """(lock_id, code) of live codes on these locks (duplicate and free-slot checks)."""
    return list(await conn.fetch(
        "SELECT cl.lock_id, c.code, c.id FROM code_locks cl JOIN access_codes c ON c.id = cl.code_id"
        " WHERE cl.lock_id = ANY($1::text[]) AND c.removed_at IS NULL AND NOT c.deleted"
        " AND ($2::text IS NULL OR c.id <> $2)", list(lock_ids), exclude))


async def lock_code_locks_for_update(conn: asyncpg.Connection, lock_ids: Sequence[str]) -> None:
    """Serialise code writers per lock (duplicate and slot checks must see each other's inserts)."""
    for lock_id in sorted(set(lock_ids)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('code-lock:' || $1))", lock_id)


async def insert_code_targets(conn: asyncpg.Connection, *, code_id: str, org_id: str,
                              targets: Sequence[tuple[str, str]]) -> None:
    """(lock_id, listing_id) pairs: one code_locks row per lock, one code_listings row per listing."""
    await conn.executemany(
        "INSERT INTO code_locks (code_id, lock_id, listing_id, org_id) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING", [(code_id, lk, li, org_id) for lk, li in targets])
    await conn.executemany(
        "INSERT INTO code_listings (code_id, listing_id, org_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [(code_id, li, org_id) for li in sorted({li for _, li in targets})])


async def code_lock_states(conn: asyncpg.Connection, code_ids: Sequence[str]) -> list[Row]:
    return list(await conn.fetch(
        "SELECT code_id, lock_id, state, updated_at FROM code_locks WHERE code_id = ANY($1::text[])"
        " ORDER BY lock_id", list(code_ids)))


async def wake_code_listings(conn: asyncpg.Connection, code_id: str) -> None:
    await conn.execute("UPDATE code_listings SET attempts = 0, next_attempt_at = now(), gave_up = false"
                       " WHERE code_id = $1", code_id)


async def vendor_has_pending_codes(conn: asyncpg.Connection, vendor_id: str) -> bool:
    """Whether some code on this vendor waits for a lock to confirm (the scheduler then reads states back)."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM code_locks cl JOIN listings l ON l.id = cl.listing_id"
        " WHERE l.vendor_id = $1 AND cl.state NOT IN ('activated', 'deactivated', 'new'))", vendor_id))


async def sync_rows(conn: asyncpg.Connection, vendor_id: str) -> list[Row]:
    """Every live (code, listing) pair on a vendor, with what the scheduler needs."""
    return list(await conn.fetch(
        "SELECT cl.*, c.code, c.name, c.schedule, c.timezone AS code_timezone, c.deleted, c.purpose,"
        " c.lease_id, c.request_id, c.unlock_notifications, l.vendor_listing_id, l.timezone AS listing_timezone"
        " FROM code_listings cl JOIN access_codes c ON c.id = cl.code_id JOIN listings l ON l.id = cl.listing_id"
        " WHERE l.vendor_id = $1 AND c.removed_at IS NULL ORDER BY c.created_at, c.id", vendor_id))


async def save_code_listing(conn: asyncpg.Connection, *, code_id: str, listing_id: str, vendor_code_id: str | None,
                            programmed: dict[str, Any] | None, removal_requested: bool) -> None:
    await conn.execute(
        "UPDATE code_listings SET vendor_code_id = $3, programmed = $4, removal_requested = $5, attempts = 0,"
        " last_error = NULL WHERE code_id = $1 AND listing_id = $2",
        code_id, listing_id, vendor_code_id, json.dumps(programmed) if programmed is not None else None,
        removal_requested)


async def code_listing_failed(conn: asyncpg.Connection, *, code_id: str, listing_id: str, error: str,
                              retry_in: float, give_up: bool) -> int:
    return int(await conn.fetchval(
        "UPDATE code_listings SET attempts = attempts + 1, last_error = $3,"
        " next_attempt_at = now() + make_interval(secs => $4), gave_up = $5"
        " WHERE code_id = $1 AND listing_id = $2 RETURNING attempts",
        code_id, listing_id, error[:500], retry_in, give_up))


async def set_code_lock_state(conn: asyncpg.Connection, *, code_id: str, lock_id: str, state: str) -> bool:
    """True when the state changed."""
    changed = await conn.fetchval(
        "UPDATE code_locks SET state = $3, updated_at = now() WHERE code_id = $1 AND lock_id = $2 AND state <> $3"
        " RETURNING 1", code_id, lock_id, state)
    return changed is not None


async def code_locks_of_codes(conn: asyncpg.Connection, code_ids: Sequence[str]) -> list[Row]:
    """Per-lock rows of many codes at once (the scheduler's read-back)."""
    return list(await conn.fetch(
        "SELECT cl.code_id, cl.listing_id, cl.lock_id, cl.state, lk.vendor_lock_id FROM code_locks cl"
        " JOIN locks lk ON lk.id = cl.lock_id WHERE cl.code_id = ANY($1::text[])", list(code_ids)))


async def code_locks_of_listing(conn: asyncpg.Connection, *, code_id: str, listing_id: str) -> list[Row]:
    return list(await conn.fetch(
        "SELECT cl.lock_id, cl.state, lk.vendor_lock_id FROM code_locks cl JOIN locks lk ON lk.id = cl.lock_id"
        " WHERE cl.code_id = $1 AND cl.listing_id = $2", code_id, listing_id))


async def code_by_vendor_code(conn: asyncpg.Connection, vendor_code_id: str) -> Row | None:
    return await conn.fetchrow(
        "SELECT c.* FROM code_listings cl JOIN access_codes c ON c.id = cl.code_id WHERE cl.vendor_code_id = $1",
        vendor_code_id)


async def all_code_locks_done(conn: asyncpg.Connection, code_id: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT NOT EXISTS (SELECT 1 FROM code_locks WHERE code_id = $1 AND state <> 'deactivated')"
        " AND NOT EXISTS (SELECT 1 FROM code_listings WHERE code_id = $1 AND vendor_code_id IS NOT NULL)", code_id))


# --- leases --------------------------------------------------------------------------------------------


async def schedule_lease_removal(conn: asyncpg.Connection, *, lease_id: str, org_id: str, unit_id: str,
                                 remove_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO lease_code_removals (lease_id, org_id, unit_id, remove_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (lease_id) DO UPDATE SET remove_at = excluded.remove_at", lease_id, org_id, unit_id, remove_at)


async def due_lease_removals(conn: asyncpg.Connection) -> list[Row]:
    """Scheduled lease removals whose time has come, every org (system transaction)."""
    return list(await conn.fetch("SELECT * FROM lease_code_removals WHERE remove_at <= now() ORDER BY remove_at"))


async def take_lease_removal(conn: asyncpg.Connection, lease_id: str) -> Row | None:
    """Claim one due removal (deleted in the caller's transaction, so it runs once)."""
    return await conn.fetchrow(
        "DELETE FROM lease_code_removals WHERE lease_id = $1 AND remove_at <= now() RETURNING *", lease_id)


async def lease_removal(conn: asyncpg.Connection, lease_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM lease_code_removals WHERE lease_id = $1", lease_id)


async def open_clearance(conn: asyncpg.Connection, *, lease_id: str, org_id: str, unit_id: str) -> None:
    await conn.execute("INSERT INTO lease_clearances (lease_id, org_id, unit_id) VALUES ($1, $2, $3)"
                       " ON CONFLICT DO NOTHING", lease_id, org_id, unit_id)


async def clearable_leases(conn: asyncpg.Connection) -> list[Row]:
    """Ended leases whose every code is confirmed removed and that were not announced yet (locks them)."""
    return list(await conn.fetch(
        "SELECT * FROM lease_clearances lc WHERE cleared_at IS NULL AND NOT EXISTS ("
        " SELECT 1 FROM access_codes c WHERE c.lease_id = lc.lease_id AND c.removed_at IS NULL)"
        " FOR UPDATE SKIP LOCKED"))


async def mark_cleared(conn: asyncpg.Connection, lease_id: str) -> datetime:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "UPDATE lease_clearances SET cleared_at = now() WHERE lease_id = $1 RETURNING cleared_at", lease_id)


# --- lockdowns -----------------------------------------------------------------------------------------


async def active_lockdown(conn: asyncpg.Connection, building_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM lockdowns WHERE building_id = $1 AND status = 'active' FOR UPDATE",
                               building_id)


async def latest_lockdown(conn: asyncpg.Connection, building_id: str) -> Row | None:
    return await conn.fetchrow("SELECT * FROM lockdowns WHERE building_id = $1 ORDER BY started_at DESC LIMIT 1",
                               building_id)


async def insert_lockdown(conn: asyncpg.Connection, *, lockdown_id: str, org_id: str, building_id: str) -> Row:
    return await _fetch_one(conn,
        "INSERT INTO lockdowns (id, org_id, building_id, status) VALUES ($1, $2, $3, 'active') RETURNING *",
        lockdown_id, org_id, building_id)


async def insert_lockdown_lock(conn: asyncpg.Connection, *, lockdown_id: str, org_id: str, lock_id: str,
                               previous_state: str, attempt_id: str) -> None:
    await conn.execute("INSERT INTO lockdown_locks (lockdown_id, org_id, lock_id, previous_state, lock_attempt_id)"
                       " VALUES ($1, $2, $3, $4, $5)", lockdown_id, org_id, lock_id, previous_state, attempt_id)


async def lockdown_locks(conn: asyncpg.Connection, lockdown_id: str) -> list[Row]:
    return list(await conn.fetch("SELECT * FROM lockdown_locks WHERE lockdown_id = $1 ORDER BY lock_id",
                                 lockdown_id))


async def lift_lockdown(conn: asyncpg.Connection, lockdown_id: str, restores: dict[str, str]) -> Row:
    await conn.executemany("UPDATE lockdown_locks SET restore_attempt_id = $3 WHERE lockdown_id = $1 AND lock_id = $2",
                           [(lockdown_id, lk, act) for lk, act in restores.items()])
    return await _fetch_one(conn,
        "UPDATE lockdowns SET status = 'lifted', lifted_at = now() WHERE id = $1 RETURNING *", lockdown_id)
