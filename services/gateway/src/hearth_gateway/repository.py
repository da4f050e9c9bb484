"""All SQL of the gateway: the shared rate-limit counters."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def hit_many(pool: asyncpg.Pool, *, key_id: str, window_start: datetime, limit: int, n: int) -> tuple[int, int]:
    """Count `n` calls at once: (count before, count after). Calls numbered before+1 .. after are admitted;
    the counter never climbs past the limit, so denied calls write nothing (see migration 0002)."""
    row = await pool.fetchrow("SELECT before, after FROM rate_hit($1, $2, $3, $4)", key_id, window_start, limit, n)
    assert row is not None
    return int(row["before"]), int(row["after"])


async def current(pool: asyncpg.Pool, *, key_id: str, window_start: datetime) -> int:
    """Requests counted so far in the window."""
    value = await pool.fetchval(
        "SELECT count FROM rate_counters WHERE key_id = $1 AND window_start = $2", key_id, window_start)
    return int(value or 0)


async def delete_windows_before(pool: asyncpg.Pool, *, before: datetime) -> int:
    """Drop finished windows; returns how many rows went."""
    status: str = await pool.execute("DELETE FROM rate_counters WHERE window_start < $1", before)
    return int(status.split()[-1])
