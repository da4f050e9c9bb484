"""In-process view of sensors for the hot paths (ingest validation, the writer, the stream filters).

Sensors change rarely and readings arrive by the tens of thousands per second, so each process keeps
what it loaded for a few seconds instead of asking Postgres per batch. A miss is always re-checked
against the database, so a sensor registered a moment ago (on any replica) is found at once. The cache
is made before the database opens, so each lookup is given the database to ask.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import asyncpg
from hearth_kit.db import Database

from hearth_telemetry import repository as repo
from hearth_telemetry.domain import SensorRef


def sensor_ref(row: asyncpg.Record) -> SensorRef:
    return SensorRef(id=row["id"], org_id=row["org_id"], kind=row["kind"], building_id=row["building_id"],
                     unit_id=row["unit_id"], active=row["status"] == "active",
                     offline_after_seconds=row["offline_after_seconds"])


@dataclass
class OrgSensors:
    """One org's sensors by id and by external id."""

    loaded_at: float
    by_id: dict[str, SensorRef] = field(default_factory=dict)
    by_external: dict[str, SensorRef] = field(default_factory=dict)


class SensorCache:
    def __init__(self, *, ttl_seconds: float = 5.0) -> None:
        self._ttl = ttl_seconds
        self._orgs: dict[str, OrgSensors] = {}
        self._global: dict[str, SensorRef] = {}
        self._global_loaded_at = time.monotonic()

    async def org(self, db: Database, org_id: str, *, max_age: float | None = None) -> OrgSensors:
        """The org's sensors, reloaded when older than `max_age` (default: the cache's ttl)."""
        cached = self._orgs.get(org_id)
        limit = self._ttl if max_age is None else max_age
        if cached is not None and time.monotonic() - cached.loaded_at <= limit:
            return cached
        async with db.transaction(org_id=org_id) as conn:
            rows = await repo.org_sensors(conn)
        fresh = OrgSensors(loaded_at=time.monotonic())
        for row in rows:
            ref = sensor_ref(row)
            fresh.by_id[ref.id] = ref
            if row["external_id"] is not None:
                fresh.by_external[row["external_id"]] = ref
        if len(self._orgs) > 10_000:
            self._orgs.clear()
        self._orgs[org_id] = fresh
        return fresh

    def forget(self, org_id: str, sensor_id: str | None = None) -> None:
        """Drop what this process knows (after a change it made itself)."""
        self._orgs.pop(org_id, None)
        if sensor_id is not None:
            self._global.pop(sensor_id, None)

    async def by_ids(self, db: Database, ids: Iterable[str]) -> dict[str, SensorRef]:
        """Sensors by id across orgs (writer and stream); unknown ids are absent from the answer."""
        now = time.monotonic()
        if now - self._global_loaded_at > self._ttl:
            self._global.clear()
            self._global_loaded_at = now
        wanted = set(ids)
        missing = [i for i in wanted if i not in self._global]
        if missing:
            async with db.system_transaction() as conn:
                for row in await repo.sensors_by_ids(conn, missing):
                    self._global[row["id"]] = sensor_ref(row)
        return {i: self._global[i] for i in wanted if i in self._global}
