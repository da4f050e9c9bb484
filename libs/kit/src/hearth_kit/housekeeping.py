"""Housekeeping: forget what no longer needs remembering, in small batches, on every service.

- `inbox` rows exist so a redelivered event is not handled twice; Kafka redelivers within minutes to
  hours (a rebalance, a restart), never weeks later, so rows older than `inbox_retention_hours` go.
- `idempotency_keys` answer a client's retry of a create; past `idempotency_retention_hours` a retry
  is a new request (clients are told keys live 24 h).

Batches keep each transaction short so pruning never holds locks a request would wait for.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hearth_kit.db import Database
from hearth_kit.logging import get_logger
from hearth_kit.settings import ServiceSettings

if TYPE_CHECKING:
    from hearth_kit.runtime import Runtime

log = get_logger(__name__)

_BATCH = 5_000


async def prune(db: Database, *, inbox_older_than: timedelta, idempotency_older_than: timedelta,
                batch: int = _BATCH) -> dict[str, int]:
    """Delete inbox rows and stored idempotent answers older than their retention; returns the counts."""
    pruned = {"inbox": 0, "idempotency_keys": 0}
    statements = {
        "inbox": "DELETE FROM inbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox"
                 " WHERE processed_at < now() - $1::interval LIMIT $2))",
        "idempotency_keys": "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys"
                            " WHERE created_at < now() - $1::interval LIMIT $2))",
    }
    ages = {"inbox": inbox_older_than, "idempotency_keys": idempotency_older_than}
    for table, sql in statements.items():
        while True:
            # idempotency_keys is org-scoped (RLS): pruning is a deliberate cross-org job.
            async with db.system_transaction() as conn:
                status = await conn.execute(sql, ages[table], batch)
            deleted = int(status.split()[-1])
            pruned[table] += deleted
            if deleted < batch:
                break
    return pruned


async def housekeeping_job(runtime: Runtime[ServiceSettings, Any]) -> None:
    """Background job every service runs: prune every `housekeeping_interval_seconds`."""
    settings = runtime.settings
    while True:
        pruned = await prune(runtime.db, inbox_older_than=timedelta(hours=settings.inbox_retention_hours),
                             idempotency_older_than=timedelta(hours=settings.idempotency_retention_hours))
        if any(pruned.values()):
            log.info("housekeeping pruned old rows", **pruned)
        await asyncio.sleep(settings.housekeeping_interval_seconds)
