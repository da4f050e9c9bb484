"""The inbox: a consumer records each event it handled in the same transaction as the effect."""

from __future__ import annotations

import asyncpg


async def first_delivery(conn: asyncpg.Connection, *, consumer: str, event_id: str) -> bool:
    """Record `(consumer, event_id)`; False when it was already handled, so the caller skips it."""
    inserted = await conn.fetchval(
        "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event_id,
    )
    return inserted is not None
