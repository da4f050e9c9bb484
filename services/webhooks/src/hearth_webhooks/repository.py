"""All SQL of the webhooks service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from hearth_kit.db import fetch_many

ENDPOINT_COLUMNS = ("id, url, description, event_types, ordered, rate_limit, max_concurrency, status, disabled_reason,"
                    " failing_since, last_sequence, secret_rotated_at, created_at, updated_at")
DELIVERY_COLUMNS = ("id, endpoint_id, event_id, event_type, subject, sequence, status, attempts, next_attempt_at,"
                    " last_status_code, created_at, updated_at")
_EDITABLE = frozenset({"url", "description", "event_types", "ordered", "rate_limit", "max_concurrency", "status"})

# An endpoint subscribes to a type when one of its patterns is '*', the type itself, or 'prefix.*'.
_SUBSCRIBED_TO_U = ("EXISTS (SELECT 1 FROM unnest(e.event_types) AS p WHERE p = '*' OR p = u.type"
                    " OR (right(p, 2) = '.*' AND starts_with(u.type, left(p, -1))))")


# --- endpoints ------------------------------------------------------------------------------------------

async def insert_endpoint(conn: asyncpg.Connection, *, endpoint_id: str, org_id: str, url: str, description: str,
                          event_types: list[str], ordered: bool, rate_limit: int | None,
                          max_concurrency: int | None, sealed_secret: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "WITH created AS (INSERT INTO endpoints (id, org_id, url, description, event_types, ordered, rate_limit,"
        " max_concurrency, secret) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *),"
        " paced AS (INSERT INTO endpoint_pacing (endpoint_id, org_id) SELECT id, org_id FROM created)"
        " SELECT " + ENDPOINT_COLUMNS + " FROM created",
        endpoint_id, org_id, url, description, event_types, ordered, rate_limit, max_concurrency, sealed_secret)
    assert row is not None
    return row


async def get_endpoint(conn: asyncpg.Connection, endpoint_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT " + ENDPOINT_COLUMNS + " FROM endpoints WHERE id = $1"
                               + (" FOR UPDATE" if lock else ""), endpoint_id)


async def get_secret(conn: asyncpg.Connection, endpoint_id: str) -> str | None:
    value: str | None = await conn.fetchval("SELECT secret FROM endpoints WHERE id = $1", endpoint_id)
    return value


async def list_endpoints(conn: asyncpg.Connection, *, offset: int, limit: int) -> tuple[list[asyncpg.Record], int]:
    rows = await fetch_many(conn, "SELECT " + ENDPOINT_COLUMNS + ", count(*) OVER () AS total FROM endpoints"
                            " ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT $2", offset, limit)
    total = int(rows[0]["total"]) if rows else int(await conn.fetchval("SELECT count(*) FROM endpoints"))
    return rows, total


async def update_endpoint(conn: asyncpg.Connection, endpoint_id: str, changes: dict[str, Any]) -> asyncpg.Record | None:
    """Apply `changes` (editable columns only); enabling clears the disabled state and the failing run."""
    names = [n for n in changes if n in _EDITABLE]
    sets = [f"{n} = ${i + 2}" for i, n in enumerate(names)]
    if changes.get("status") == "enabled":
        sets += ["disabled_reason = NULL", "failing_since = NULL"]
    sets.append("updated_at = now()")
    return await conn.fetchrow(
        f"UPDATE endpoints SET {', '.join(sets)} WHERE id = $1 RETURNING " + ENDPOINT_COLUMNS,
        endpoint_id, *[changes[n] for n in names])


async def delete_endpoint(conn: asyncpg.Connection, endpoint_id: str) -> bool:
    """Delete the endpoint with its log: deliveries first, then the endpoint row — the order the delivery
    workers lock them in, so a delete never deadlocks with a batch of outcomes being written."""
    await conn.execute("DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE endpoint_id = $1)",
                       endpoint_id)
    await conn.execute("DELETE FROM deliveries WHERE endpoint_id = $1", endpoint_id)
    return await conn.fetchval("DELETE FROM endpoints WHERE id = $1 RETURNING 1", endpoint_id) is not None


async def rotate_secret(conn: asyncpg.Connection, endpoint_id: str, *, sealed_secret: str,
                        overlap_seconds: float) -> asyncpg.Record | None:
    """The new secret signs from now on; the current one keeps signing beside it for the overlap."""
    return await conn.fetchrow(
        "UPDATE endpoints SET previous_secret = secret, secret = $2,"
        " previous_secret_until = now() + make_interval(secs => $3), secret_rotated_at = now(), updated_at = now()"
        " WHERE id = $1 RETURNING " + ENDPOINT_COLUMNS, endpoint_id, sealed_secret, overlap_seconds)


# --- fan-out: a batch of events → deliveries ------------------------------------------------------------

@dataclass(frozen=True)
class IncomingEvent:
    id: str
    org_id: str
    type: str
    subject: str
    payload: bytes


async def fan_out(conn: asyncpg.Connection, *, consumer: str, events: Sequence[IncomingEvent]) -> int:
    """Queue one delivery per (new event, enabled subscribed endpoint of its org); returns how many.

    Three statements for the whole batch (a system transaction: the batch mixes orgs):
    1. the inbox takes every event id; those it already had are skipped (a redelivered record), and the
       new ones are matched with their org's endpoints in the same statement;
    2. each matched endpoint is locked (in id order, so concurrent batches cannot deadlock) and takes as
       many sequence numbers as it has new deliveries, in the batch's order (Kafka's order per subject);
    3. the events (once, shared by their deliveries) and all deliveries are inserted.
    The webhook-id is derived from (endpoint, event), so no path can ever mint a second one.
    """
    unique = list({e.id: e for e in reversed(events)}.values())[::-1]  # first occurrence of each id wins
    pairs = await fetch_many(
        conn,
        "WITH fresh AS (INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::text[])"
        "  ON CONFLICT DO NOTHING RETURNING event_id)"
        " SELECT u.n, e.id AS endpoint_id"
        " FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(event_id, org_id, type, n)"
        " JOIN fresh f ON f.event_id = u.event_id"
        " JOIN endpoints e ON e.org_id = u.org_id AND e.status = 'enabled' AND " + _SUBSCRIBED_TO_U +
        " ORDER BY u.n, e.id",
        consumer, [e.id for e in unique], [e.org_id for e in unique], [e.type for e in unique])
    if not pairs:
        return 0
    wanted: dict[str, int] = {}
    for p in pairs:
        wanted[p["endpoint_id"]] = wanted.get(p["endpoint_id"], 0) + 1
    ids = sorted(wanted)
    bases = {r["id"]: int(r["base"]) for r in await fetch_many(
        conn,
        "WITH locked AS (SELECT id FROM endpoints WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE)"
        " UPDATE endpoints e SET last_sequence = e.last_sequence + u.k"
        " FROM unnest($1::text[], $2::int[]) AS u(id, k), locked l"
        " WHERE e.id = u.id AND l.id = u.id RETURNING e.id, e.last_sequence - u.k AS base",
        ids, [wanted[i] for i in ids])}
    rows: list[tuple[str, int, int]] = []  # (endpoint, index of the event in `unique`, sequence)
    for p in pairs:
        endpoint_id = p["endpoint_id"]
        if endpoint_id in bases:  # (an endpoint deleted meanwhile has no row left to update)
            bases[endpoint_id] += 1
            rows.append((endpoint_id, int(p["n"]) - 1, bases[endpoint_id]))
    used = sorted({i for _, i, _ in rows})  # the events some endpoint wants: stored once each
    position = {i: n for n, i in enumerate(used, start=1)}
    await conn.execute(
        "WITH stored AS (INSERT INTO events (id, org_id, type, subject, payload)"
        "  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[])"
        "  ON CONFLICT (id) DO NOTHING)"
        " INSERT INTO deliveries (id, org_id, endpoint_id, event_id, event_type, subject, sequence, next_attempt_at)"
        " SELECT 'msg_' || left(md5(u.endpoint_id || ':' || ev.id), 26), ev.org_id, u.endpoint_id, ev.id, ev.type,"
        "  ev.subject, u.seq, now()"
        " FROM unnest($6::text[], $7::int[], $8::bigint[]) AS u(endpoint_id, i, seq)"
        " JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[])"
        "  WITH ORDINALITY AS ev(id, org_id, type, subject, n) ON ev.n = u.i"
        " ON CONFLICT (endpoint_id, event_id) DO NOTHING",
        [unique[i].id for i in used], [unique[i].org_id for i in used], [unique[i].type for i in used],
        [unique[i].subject for i in used], [unique[i].payload for i in used],
        [r[0] for r in rows], [position[r[1]] for r in rows], [r[2] for r in rows])
    return len(rows)


async def take_sequence(conn: asyncpg.Connection, endpoint_id: str) -> int:
    value = await conn.fetchval("UPDATE endpoints SET last_sequence = last_sequence + 1 WHERE id = $1"
                                " RETURNING last_sequence", endpoint_id)
    return int(value)


async def insert_event(conn: asyncpg.Connection, *, event_id: str, org_id: str, event_type: str, subject: str,
                       payload: bytes) -> None:
    await conn.execute("INSERT INTO events (id, org_id, type, subject, payload) VALUES ($1, $2, $3, $4, $5)"
                       " ON CONFLICT (id) DO NOTHING", event_id, org_id, event_type, subject, payload)


async def insert_deliveries(conn: asyncpg.Connection, *, org_id: str, event_id: str, event_type: str, subject: str,
                            rows: Sequence[tuple[str, str, int]]) -> None:
    """(delivery id, endpoint id, sequence) rows, due at once."""
    await conn.execute(
        "INSERT INTO deliveries (id, org_id, endpoint_id, event_id, event_type, subject, sequence, next_attempt_at)"
        " SELECT d, $4, e, $5, $6, $7, s, now() FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(d, e, s)"
        " ON CONFLICT (endpoint_id, event_id) DO NOTHING",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], org_id, event_id, event_type, subject)


# --- delivery log, retry, replay -------------------------------------------------------------------------

async def list_deliveries(conn: asyncpg.Connection, *, endpoint_id: str, status: str | None, event_type: str | None,
                          since: datetime | None, offset: int, limit: int) -> tuple[list[asyncpg.Record], int]:
    where = ["endpoint_id = $1"]
    args: list[Any] = [endpoint_id]
    for column, op, value in (("status", "=", status), ("event_type", "=", event_type), ("created_at", ">=", since)):
        if value is not None:
            args.append(value)
            where.append(f"{column} {op} ${len(args)}")
    clause = " AND ".join(where)
    rows = await fetch_many(
        conn, f"SELECT {DELIVERY_COLUMNS}, count(*) OVER () AS total FROM deliveries WHERE {clause}"
        f" ORDER BY sequence DESC OFFSET ${len(args) + 1} LIMIT ${len(args) + 2}", *args, offset, limit)
    total = int(rows[0]["total"]) if rows else int(
        await conn.fetchval(f"SELECT count(*) FROM deliveries WHERE {clause}", *args))
    return rows, total


async def attempts_for(conn: asyncpg.Connection, delivery_ids: list[str]) -> list[asyncpg.Record]:
    return await fetch_many(
        conn, "SELECT id, delivery_id, attempted_at, status_code, latency_ms, response_excerpt, error FROM attempts"
        " WHERE delivery_id = ANY($1::text[]) ORDER BY attempted_at, id", delivery_ids)


async def get_delivery(conn: asyncpg.Connection, delivery_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT " + DELIVERY_COLUMNS + " FROM deliveries WHERE id = $1"
                               + (" FOR UPDATE" if lock else ""), delivery_id)


async def requeue_delivery(conn: asyncpg.Connection, delivery_id: str) -> asyncpg.Record | None:
    """A finished delivery due again at once, at the start of the retry schedule."""
    return await conn.fetchrow(
        "UPDATE deliveries SET status = 'pending', failures = 0, next_attempt_at = now(), updated_at = now()"
        " WHERE id = $1 AND status <> 'pending' RETURNING " + DELIVERY_COLUMNS, delivery_id)


async def replay(conn: asyncpg.Connection, *, endpoint_id: str, since: datetime | None,
                 from_sequence: int | None) -> int:
    """Queue again every finished delivery of the endpoint from a time or a sequence on (same webhook-ids)."""
    column, value = ("created_at", since) if since is not None else ("sequence", from_sequence)
    done = await conn.execute(
        "UPDATE deliveries SET status = 'pending', failures = 0, next_attempt_at = now(), updated_at = now()"
        f" WHERE endpoint_id = $1 AND {column} >= $2 AND status <> 'pending'", endpoint_id, value)
    return int(done.split()[-1])


async def notify_dispatcher(conn: asyncpg.Connection) -> None:
    """Wake the dispatchers (on commit) after deliveries were queued again."""
    await conn.execute("SELECT pg_notify(current_schema() || '_deliveries', '')")


# --- the dispatcher (cross-org: system transactions) -----------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    delivery_id: str
    endpoint_id: str
    unpaced: bool  # its endpoint has no pacing row yet (one saved by other means than the API)


async def due_candidates(conn: asyncpg.Connection, *, per_endpoint: int, limit: int,
                         default_concurrency: int, answered: Mapping[str, int]) -> list[Candidate]:
    """Due deliveries of enabled endpoints with room, oldest first, at most `per_endpoint` each.

    Room is counted here, in Postgres, so it holds across replicas: an endpoint's in-flight deliveries
    (claimed by any replica, lease not over) against its concurrency cap, and its current one-second rate
    window against its rate limit. An endpoint without room contributes no rows, and each endpoint at most
    `per_endpoint` (an index probe each, not a sort of the whole backlog), so a slow endpoint's backlog
    never crowds out another endpoint's rows. On an ordered endpoint a delivery waits while an earlier one
    of the same subject is still pending (only that subject is held back).

    `answered` (per endpoint): claims of this replica whose request is over but whose outcome is not
    recorded yet. They are no longer in flight at the partner, so they do not take its slots; without this
    an endpoint's slots were all freed at once by each outcome batch, and claiming waited for it.
    """
    rows = await fetch_many(
        conn,
        "SELECT c.id, e.id AS endpoint_id, p.endpoint_id IS NULL AS unpaced FROM endpoints e"
        " LEFT JOIN endpoint_pacing p ON p.endpoint_id = e.id"
        " CROSS JOIN LATERAL (SELECT count(*) - " + _answered_of_e(4) + " AS n FROM claims f"
        "  WHERE f.endpoint_id = e.id AND f.until > now()) busy"
        " CROSS JOIN LATERAL (SELECT d.id, d.next_attempt_at FROM deliveries d"
        "  WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()"
        "  AND NOT EXISTS (SELECT 1 FROM claims k WHERE k.delivery_id = d.id AND k.until > now())"
        "  AND (NOT e.ordered OR NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.endpoint_id = d.endpoint_id"
        "   AND o.subject = d.subject AND o.status = 'pending' AND o.sequence < d.sequence))"
        "  ORDER BY d.next_attempt_at, d.sequence"
        "  LIMIT greatest(0, least($1, coalesce(e.max_concurrency, $3) - busy.n))) c"
        " WHERE e.status = 'enabled'"
        "  AND (e.rate_limit IS NULL OR p.endpoint_id IS NULL"
        "   OR p.window_started_at <= clock_timestamp() - interval '1 second'"
        "   OR p.window_count < e.rate_limit)"
        " ORDER BY c.next_attempt_at LIMIT $2",
        per_endpoint, limit, default_concurrency, *_answered_args(answered))
    return [Candidate(r["id"], r["endpoint_id"], r["unpaced"]) for r in rows]


def _answered_of_e(first: int) -> str:
    """SQL: endpoint `e`'s count in the `answered` arrays passed as parameters `first` and `first + 1`."""
    return (f"coalesce((SELECT a.n FROM unnest(${first}::text[], ${first + 1}::int[]) AS a(endpoint_id, n)"
            " WHERE a.endpoint_id = e.id), 0)")


def _answered_args(answered: Mapping[str, int]) -> tuple[list[str], list[int]]:
    ids = sorted(answered)
    return ids, [answered[i] for i in ids]


async def add_pacing(conn: asyncpg.Connection, endpoint_ids: list[str]) -> None:
    """The pacing rows these endpoints lack (the API creates one with each endpoint)."""
    await conn.execute("INSERT INTO endpoint_pacing (endpoint_id, org_id) SELECT id, org_id FROM endpoints"
                       " WHERE id = ANY($1::text[]) ON CONFLICT DO NOTHING", endpoint_ids)


@dataclass(frozen=True)
class Room:
    """What an endpoint may still start now: free slots and what is left of its rate window."""

    endpoint_id: str
    slots: int
    rate_left: int | None  # None: no rate limit
    window_open: bool  # the current window is still running (else a new one starts with this claim)


async def lock_room(conn: asyncpg.Connection, endpoint_ids: list[str], *, default_concurrency: int,
                    answered: Mapping[str, int]) -> list[Room]:
    """Lock the endpoints' pacing rows (skipping those another replica is claiming for right now), then
    count their room afresh: counted after the lock, so nothing another replica committed is missed."""
    locked = [r["endpoint_id"] for r in await fetch_many(
        conn, "SELECT endpoint_id FROM endpoint_pacing WHERE endpoint_id = ANY($1::text[])"
        " ORDER BY endpoint_id FOR UPDATE SKIP LOCKED", endpoint_ids)]
    if not locked:
        return []
    rows = await fetch_many(
        conn,
        "SELECT e.id, coalesce(e.max_concurrency, $2) - (SELECT count(*) FROM claims f"
        "  WHERE f.endpoint_id = e.id AND f.until > now()) + " + _answered_of_e(3) + " AS slots,"
        " p.window_started_at > clock_timestamp() - interval '1 second' AS window_open,"
        " e.rate_limit - CASE WHEN p.window_started_at > clock_timestamp() - interval '1 second'"
        "  THEN p.window_count ELSE 0 END AS rate_left"
        " FROM endpoints e JOIN endpoint_pacing p ON p.endpoint_id = e.id WHERE e.id = ANY($1::text[])",
        locked, default_concurrency, *_answered_args(answered))
    return [Room(r["id"], int(r["slots"]), None if r["rate_left"] is None else int(r["rate_left"]),
                 bool(r["window_open"])) for r in rows]


async def spend_rate(conn: asyncpg.Connection, started: dict[str, int], opening: set[str]) -> None:
    """Count what was just claimed against each rate-limited endpoint's window (a new one where it lapsed).

    Windows are read on the clock, not at the transaction's start: a slow claim must not start its window
    in the past (the next one would then open early)."""
    if not started:
        return
    ids = sorted(started)
    await conn.execute(
        "UPDATE endpoint_pacing p SET"
        " window_started_at = CASE WHEN u.fresh THEN clock_timestamp() ELSE p.window_started_at END,"
        " window_count = CASE WHEN u.fresh THEN u.n ELSE p.window_count + u.n END"
        " FROM unnest($1::text[], $2::int[], $3::bool[]) AS u(id, n, fresh) WHERE p.endpoint_id = u.id",
        ids, [started[i] for i in ids], [i in opening for i in ids])


async def claim(conn: asyncpg.Connection, *, delivery_ids: list[str], lease_seconds: float) -> list[asyncpg.Record]:
    """Take due deliveries for a lease; with what sending them needs.

    The delivery rows are locked (skipping those another worker is claiming), so their state is read as
    last committed: one finished meanwhile is not claimed. A live claim elsewhere wins (the conflict);
    one whose lease ended is taken over.
    """
    return await fetch_many(
        conn,
        "WITH claimed AS ("
        " INSERT INTO claims (delivery_id, org_id, endpoint_id, until)"
        " SELECT id, org_id, endpoint_id, now() + make_interval(secs => $2) FROM deliveries"
        "  WHERE id = ANY($1::text[]) AND status = 'pending' AND next_attempt_at <= now()"
        "  FOR NO KEY UPDATE SKIP LOCKED"
        " ON CONFLICT (delivery_id) DO UPDATE SET until = excluded.until WHERE claims.until <= now()"
        " RETURNING delivery_id)"
        " SELECT d.id, d.org_id, d.endpoint_id, d.event_id, d.event_type, d.sequence, d.failures,"
        "  ev.payload, e.url, e.secret,"
        "  CASE WHEN e.previous_secret_until > now() THEN e.previous_secret END AS previous_secret"
        " FROM claimed c JOIN deliveries d ON d.id = c.delivery_id JOIN events ev ON ev.id = d.event_id"
        " JOIN endpoints e ON e.id = d.endpoint_id",
        delivery_ids, lease_seconds)


async def release(conn: asyncpg.Connection, delivery_ids: list[str]) -> None:
    """Claimed deliveries a stopping worker did not finish: due again at once."""
    await conn.execute("DELETE FROM claims WHERE delivery_id = ANY($1::text[])", delivery_ids)


@dataclass(frozen=True)
class AttemptRow:
    attempt_id: str
    delivery_id: str
    endpoint_id: str
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    excerpt: str | None
    error: str | None
    # what happens to the delivery: 'succeeded', 'failed' (given up) or 'pending' (retry after `retry_in`)
    outcome: str
    retry_in: float | None


async def record_attempts(conn: asyncpg.Connection, rows: Sequence[AttemptRow]) -> None:
    """The attempts of a batch, their deliveries' new state, and the end of their claims: three statements."""
    cols: dict[str, list[Any]] = {k: [] for k in (
        "aid", "did", "at", "code", "lat", "exc", "err", "out", "retry")}
    for r in rows:
        for k, v in zip(cols, (r.attempt_id, r.delivery_id, r.attempted_at, r.status_code, r.latency_ms,
                               r.excerpt, r.error, r.outcome, r.retry_in), strict=True):
            cols[k].append(v)
    args = (cols["aid"], cols["did"], cols["at"], cols["code"], cols["lat"], cols["exc"], cols["err"],
            cols["out"], cols["retry"])
    unnest = ("unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::float8[], $6::text[], $7::text[],"
              " $8::text[], $9::float8[]) AS u(aid, did, at, code, lat, exc, err, out, retry)")
    # A delivery deleted meanwhile (its endpoint was) simply has no row left to log against.
    # (Joined on the id alone: the plan wanted is the array outside, the primary key probed inside. An
    # extra `d.id = ANY($2)` made the planner loop over the whole array for each row: 0.4 s per 500.)
    await conn.execute(
        "INSERT INTO attempts (id, org_id, delivery_id, attempted_at, status_code, latency_ms, response_excerpt,"
        " error) SELECT u.aid, d.org_id, u.did, u.at, u.code, u.lat, u.exc, u.err FROM " + unnest +
        " JOIN deliveries d ON d.id = u.did", *args)
    await conn.execute(
        "UPDATE deliveries d SET status = u.out, attempts = d.attempts + 1, last_status_code = u.code,"
        " failures = CASE WHEN u.out = 'succeeded' THEN 0 ELSE d.failures + 1 END,"
        " next_attempt_at = CASE WHEN u.out = 'pending' THEN now() + make_interval(secs => u.retry) END,"
        " updated_at = now()"
        " FROM " + unnest + " WHERE d.id = u.did AND d.status = 'pending'", *args)
    await conn.execute("DELETE FROM claims WHERE delivery_id = ANY($1::text[])", cols["did"])


async def mark_endpoint_health(conn: asyncpg.Connection, *, healthy: list[str], failing: list[str],
                               failing_since: list[datetime]) -> None:
    """A success ends an endpoint's failing run; a failure starts one if none is running."""
    if healthy:
        await conn.execute("UPDATE endpoints SET failing_since = NULL WHERE id = ANY($1::text[])"
                           " AND failing_since IS NOT NULL", healthy)
    if failing:
        await conn.execute(
            "UPDATE endpoints e SET failing_since = u.since FROM unnest($1::text[], $2::timestamptz[]) AS u(id, since)"
            " WHERE e.id = u.id AND e.failing_since IS NULL", failing, failing_since)


async def disable_endpoints(conn: asyncpg.Connection, *, endpoint_ids: list[str], reason: str,
                            failing_for_seconds: float | None = None) -> list[asyncpg.Record]:
    """Disable enabled endpoints (those failing for long enough, when given); returns what was disabled."""
    extra = "" if failing_for_seconds is None else " AND failing_since <= now() - make_interval(secs => $3)"
    args: list[Any] = [endpoint_ids, reason] + ([] if failing_for_seconds is None else [failing_for_seconds])
    return await fetch_many(
        conn, "UPDATE endpoints SET status = 'disabled', disabled_reason = $2, updated_at = now()"
        " WHERE id = ANY($1::text[]) AND status = 'enabled'" + extra +
        " RETURNING id, org_id, url, failing_since, updated_at", *args)
