"""Reading locks and their events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hearth_kit.errors import NotFound
from hearth_kit.pagination import PageParams
from hearth_kit.tx import Tx

from hearth_access import repository as repo
from hearth_access.service.vendors import _iso


def lock_view(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "model": row["model"], "vendor_id": row["vendor_id"],
            "vendor_lock_id": row["vendor_lock_id"], "listing_id": row["listing_id"],
            "building_id": row["building_id"], "unit_id": row["unit_id"], "state": row["state"],
            "battery_pct": row["battery_pct"], "online": row["online"], "last_seen": _iso(row["last_seen"]),
            "code_length": {"min": row["code_length_min"], "max": row["code_length_max"]},
            "max_codes": row["max_codes"]}


def event_view(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "lock_id": row["lock_id"], "type": row["type"], "method": row["method"],
            "access_code_id": row["access_code_id"], "battery_pct": row["battery_pct"],
            "occurred_at": _iso(row["occurred_at"])}


async def get_lock(tx: Tx, *, lock_id: str) -> dict[str, Any]:
    row = await repo.lock(tx.conn, lock_id)
    if row is None:
        raise NotFound.of("lock", lock_id)
    return lock_view(row)


async def list_locks(tx: Tx, *, page: PageParams, building_id: str | None,
                     unit_id: str | None, state: str | None, online: bool | None,
                     battery_below: int | None) -> tuple[list[dict[str, Any]], int]:
    rows, total = await repo.list_locks(tx.conn, building_id=building_id, unit_id=unit_id, state=state, online=online,
                                        battery_below=battery_below, limit=page.limit, offset=page.offset)
    return [lock_view(r) for r in rows], total


async def list_events(tx: Tx, *, page: PageParams, lock_id: str | None,
                      type_: str | None, since: datetime | None,
                      until: datetime | None) -> tuple[list[dict[str, Any]], int]:
    rows, total = await repo.list_lock_events(tx.conn, lock_id=lock_id, type_=type_, since=since, until=until,
                                              limit=page.limit, offset=page.offset)
    return [event_view(r) for r in rows], total
