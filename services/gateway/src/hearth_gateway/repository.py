"""All SQL of the gateway: the shared rate-limit counters."""

from __future__ import annotations

from datetime import datetime

import asyncpg

# One statement per request, exact across replicas: the row lock serialises concurrent increments.
# The counter never climbs past the limit (the UPDATE's WHERE fails), so a denied request writes nothing
# and RETURNING yields no row.
_HIT = (
    "INSERT INTO rate_counters (key_id, window_start, count) VALUES ($1, $2, 1)"
    " ON CONFLICT (key_id, window_start) DO UPDATE SET count = rate_counters.count + 1"
    " WHERE rate_counters.count < $3"
    " RETURNING count"
)


async def hit(pool: asyncpg.Pool, *, key_id: str, window_start: datetime, limit: int) -> int | None:
    """This request's number in the window, or None when the window is already full."""
    value = await pool.fetchval(_HIT, key_id, window_start, limit)
    return None if value is None else int(value)


async def current(pool: asyncpg.Pool, *, key_id: str, window_start: datetime) -> int:
    """Requests counted so far in the window."""
    value = await pool.fetchval(
        "SELECT count FROM rate_counters WHERE key_id = $1 AND window_start = $2", key_id, window_start)
    return int(value or 0)


async def delete_windows_before(pool: asyncpg.Pool, *, before: datetime) -> int:
    """Drop finished windows; returns how many rows went."""
    status: str = await pool.execute("DELETE FROM rate_counters WHERE window_start < $1", before)
    return int(status.split()[-1])
