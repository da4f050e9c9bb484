"""Storage upkeep: daily partitions created ahead, old raw partitions dropped, rollups trimmed; and a check
that no stored batch waits long for its roll-up.

Raw retention is per org: whole daily partitions are dropped once older than the longest raw retention
any org asked for (default `raw_retention_days`); orgs that keep less (the default included, once some org
keeps more) have their older rows deleted.
Minute rollups are trimmed the same way with `rollup_retention_days`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from hearth_kit.logging import get_logger
from prometheus_client import Gauge

from hearth_telemetry import repository as repo

if TYPE_CHECKING:
    from hearth_telemetry.runtime import TelemetryRuntime

log = get_logger(__name__)

OWED_FOR = Gauge("hearth_telemetry_oldest_owed_roll_seconds",
                 "Age of the oldest stored batch whose rollups are still owed (see writer.py), at the last check")
# A roll is owed for `writer_roll_ms`, or until a dead writer's records are read again: far less than this.
OWED_TOO_LONG_SECONDS = 600


def partition_day(name: str) -> date | None:
    """The day of a `readings_YYYYMMDD` partition."""
    try:
        return datetime.strptime(name.removeprefix("readings_"), "%Y%m%d").date()
    except ValueError:
        return None


async def run_maintenance(runtime: TelemetryRuntime, *, today: date | None = None) -> dict[str, int]:
    """One pass; returns counts (partitions created/dropped, rows deleted)."""
    settings = runtime.settings
    today = today or datetime.now(UTC).date()
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    stats = {"created": 0, "dropped": 0, "raw_deleted": 0, "rollups_deleted": 0}
    async with runtime.db.system_transaction() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('telemetry-maintenance'))"):
            return stats
        for offset in range(-1, settings.partitions_ahead_days + 1):
            stats["created"] += await repo.ensure_partition(conn, today + timedelta(days=offset))
        overrides = await repo.all_retention(conn)
        longest_raw = max([settings.raw_retention_days, *(r["raw_retention_days"] for r in overrides)])
        for name in await repo.reading_partitions(conn):
            day = partition_day(name)
            # A partition holds [day, day+1): drop it once its whole day is older than the longest retention.
            if day is not None and day + timedelta(days=1) <= today - timedelta(days=longest_raw):
                await repo.drop_partition(conn, name)
                stats["dropped"] += 1
        for row in overrides:
            if row["raw_retention_days"] < longest_raw:
                stats["raw_deleted"] += await repo.delete_raw_before(
                    conn, now - timedelta(days=row["raw_retention_days"]), org_id=row["org_id"])
            stats["rollups_deleted"] += await repo.delete_rollups_before(
                conn, now - timedelta(days=row["rollup_retention_days"]), org_id=row["org_id"])
        if settings.raw_retention_days < longest_raw:  # an org keeps more: the others still keep only the default
            stats["raw_deleted"] += await repo.delete_raw_before(
                conn, now - timedelta(days=settings.raw_retention_days),
                exclude_orgs=[r["org_id"] for r in overrides])
        stats["rollups_deleted"] += await repo.delete_rollups_before(
            conn, now - timedelta(days=settings.rollup_retention_days),
            exclude_orgs=[r["org_id"] for r in overrides])
        owed_for = await repo.oldest_owed_roll_seconds(conn)
    OWED_FOR.set(owed_for)
    if owed_for > OWED_TOO_LONG_SECONDS:
        log.warning("stored readings wait long for their roll-up (rollups and last values miss them)",
                    oldest_seconds=round(owed_for))
    if stats["dropped"] or stats["raw_deleted"] or stats["rollups_deleted"]:
        log.info("telemetry retention applied", **stats)
    return stats


async def maintenance_job(runtime: TelemetryRuntime) -> None:
    settings = runtime.settings
    while True:
        await run_maintenance(runtime)
        await asyncio.sleep(settings.maintenance_interval_seconds)
