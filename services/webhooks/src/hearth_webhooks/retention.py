"""Retention: the delivery log does not grow forever.

Every `retention_interval_seconds`, attempts older than `delivery_retention_days` are deleted, then
finished deliveries (succeeded or failed) last touched before then, then stored events no delivery refers
to any more. Pending deliveries are never pruned, however old. What is pruned can no longer be replayed
(replay re-queues stored deliveries). Deletes go in chunks, so no statement holds locks for long.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hearth_kit.db import Database
from hearth_kit.logging import get_logger

from hearth_webhooks.runtime import WebhooksRuntime

log = get_logger(__name__)
CHUNK = 5000

_PRUNE = {
    "attempts": "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts"
                " WHERE attempted_at < now() - make_interval(days => $1) LIMIT $2)",
    "deliveries": "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE status <> 'pending'"
                  " AND updated_at < now() - make_interval(days => $1) LIMIT $2)",
    "events": "DELETE FROM events WHERE id IN (SELECT ev.id FROM events ev"
              " WHERE ev.received_at < now() - make_interval(days => $1)"
              " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = ev.id) LIMIT $2)",
}


@dataclass
class Pruned:
    attempts: int = 0
    deliveries: int = 0
    events: int = 0


async def prune(db: Database, *, days: int) -> Pruned:
    """Delete what is older than `days` (every org: a system transaction per chunk)."""
    pruned = Pruned()
    for table, sql in _PRUNE.items():
        while True:
            async with db.system_transaction() as conn:
                done = int((await conn.execute(sql, days, CHUNK)).split()[-1])
            setattr(pruned, table, getattr(pruned, table) + done)
            if done < CHUNK:
                break
    return pruned


async def retention_job(runtime: WebhooksRuntime) -> None:
    """Background job: prune, then wait for the next round."""
    settings = runtime.settings
    while True:
        pruned = await prune(runtime.db, days=settings.delivery_retention_days)
        if pruned.attempts or pruned.deliveries or pruned.events:
            log.info("old delivery log pruned", attempts=pruned.attempts, deliveries=pruned.deliveries,
                     events=pruned.events)
        await asyncio.sleep(settings.retention_interval_seconds)
