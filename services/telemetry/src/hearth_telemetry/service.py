"""Use cases of the telemetry service: one transaction each, scoped to the caller's org."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found

from hearth_telemetry import repository as repo
from hearth_telemetry.config import Settings
from hearth_telemetry.domain import DEFAULT_UNIT, INTERVAL_SECONDS
from hearth_telemetry.models import AlertRuleIn, AlertRulePatch, SensorIn, SensorPatch, check_rule_shape
from hearth_telemetry.views import alert_view, rule_view, sensor_view

MAX_BUCKETS = 10_000


# ------------------------------------------------------------------ sensors

async def _wait_for_projection(db: Database, org_id: str, check: Any, *, seconds: float) -> Any:
    """Ask the projection until it answers, up to `seconds` (an id created a moment ago may be in flight)."""
    deadline = time.monotonic() + seconds
    while True:
        async with db.transaction(org_id=org_id) as conn:
            answer = await check(conn)
        if answer or time.monotonic() >= deadline:
            return answer
        await asyncio.sleep(0.1)


async def _check_location(db: Database, settings: Settings, org_id: str, building_id: str,
                          unit_id: str | None) -> None:
    found = await _wait_for_projection(db, org_id, lambda c: repo.building_exists(c, building_id),
                                       seconds=settings.projection_wait_seconds)
    if not found:
        raise Problem(422, f"building {building_id} not found", slug="validation-error",
                      errors=[{"field": "building_id", "message": "unknown building", "code": "not_found"}])
    if unit_id is not None:
        unit_building = await _wait_for_projection(db, org_id, lambda c: repo.unit_building(c, unit_id),
                                                   seconds=settings.projection_wait_seconds)
        if unit_building != building_id:
            raise Problem(422, f"unit {unit_id} not found in building {building_id}", slug="validation-error",
                          errors=[{"field": "unit_id", "message": "unknown unit for this building",
                                   "code": "not_found"}])


async def create_sensor(db: Database, settings: Settings, *, principal: Principal, body: SensorIn) -> dict[str, Any]:
    principal.require_write()
    await _check_location(db, settings, principal.org_id, body.building_id, body.unit_id)
    async with db.transaction(org_id=principal.org_id) as conn:
        await repo.ensure_default_rule(conn, principal.org_id, new_id("rul"))
        if body.external_id and await repo.external_id_taken(conn, principal.org_id, body.external_id):
            raise Problem(409, f"external_id {body.external_id!r} is already used by another sensor",
                          slug="conflict")
        try:
            row = await repo.insert_sensor(conn, {
                "id": new_id("sen"), "org_id": principal.org_id, "building_id": body.building_id,
                "unit_id": body.unit_id, "kind": body.kind,
                "unit_of_measure": body.unit_of_measure or DEFAULT_UNIT[body.kind], "name": body.name,
                "external_id": body.external_id, "offline_after_seconds": body.offline_after_seconds,
            })
        except asyncpg.UniqueViolationError as exc:
            raise Problem(409, "external_id is already used by another sensor", slug="conflict") from exc
        full = await repo.get_sensor(conn, row["id"])
    assert full is not None
    return sensor_view(full, default_offline=settings.offline_after_seconds)


async def get_sensor(db: Database, settings: Settings, *, principal: Principal, sensor_id: str) -> dict[str, Any]:
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_sensor(conn, sensor_id)
    if row is None:
        raise not_found("sensor", sensor_id)
    return sensor_view(row, default_offline=settings.offline_after_seconds)


async def list_sensors(db: Database, settings: Settings, *, principal: Principal, page: PageParams,
                       **filters: Any) -> tuple[list[dict[str, Any]], int]:
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repo.list_sensors(conn, default_offline=settings.offline_after_seconds,
                                              limit=page.limit, offset=page.offset, **filters)
    return [sensor_view(r, default_offline=settings.offline_after_seconds) for r in rows], total


async def update_sensor(db: Database, settings: Settings, *, principal: Principal, sensor_id: str,
                        body: SensorPatch) -> dict[str, Any]:
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        before = await repo.get_sensor(conn, sensor_id, for_update=True)
        if before is None:
            raise not_found("sensor", sensor_id)
        fields = {k: getattr(body, k) for k in body.model_fields_set}
        if fields.get("unit_id") is not None and (
                await repo.unit_building(conn, fields["unit_id"]) != before["building_id"]):
            raise Problem(422, "unit not found in the sensor's building", slug="validation-error",
                          errors=[{"field": "unit_id", "message": "unknown unit", "code": "not_found"}])
        if fields.get("external_id") and await repo.external_id_taken(
                conn, principal.org_id, fields["external_id"], except_id=sensor_id):
            raise Problem(409, "external_id is already used by another sensor", slug="conflict")
        for required in ("name", "unit_of_measure"):
            if required in fields and fields[required] is None:
                raise Problem(422, f"{required} cannot be null", slug="validation-error")
        if fields:
            await repo.update_sensor(conn, sensor_id, fields)
        row = await repo.get_sensor(conn, sensor_id)
    assert row is not None
    return sensor_view(row, default_offline=settings.offline_after_seconds)


async def retire_sensor(db: Database, *, principal: Principal, sensor_id: str) -> None:
    """A retired sensor keeps its history and accepts no more readings."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        if await repo.get_sensor(conn, sensor_id, for_update=True) is None:
            raise not_found("sensor", sensor_id)
        await repo.update_sensor(conn, sensor_id, {"status": "retired"})


# ------------------------------------------------------------------ retention

async def retention(db: Database, settings: Settings, org_id: str) -> dict[str, int]:
    async with db.transaction(org_id=org_id) as conn:
        row = await repo.retention_of(conn, org_id)
    if row is None:
        return {"raw_retention_days": settings.raw_retention_days,
                "rollup_retention_days": settings.rollup_retention_days}
    return {"raw_retention_days": row["raw_retention_days"], "rollup_retention_days": row["rollup_retention_days"]}


async def set_retention(db: Database, *, principal: Principal, raw_days: int, rollup_days: int) -> dict[str, int]:
    principal.require_role("admin", "manager")
    if rollup_days < raw_days:
        raise Problem(422, "rollup_retention_days must be at least raw_retention_days", slug="validation-error")
    async with db.transaction(org_id=principal.org_id) as conn:
        await repo.set_retention(conn, principal.org_id, raw_days, rollup_days)
    return {"raw_retention_days": raw_days, "rollup_retention_days": rollup_days}


# ------------------------------------------------------------------ series

def parse_range(start: datetime | None, end: datetime | None, *, default_span: timedelta) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise Problem(422, f"`{name}` needs a time zone offset (e.g. Z)", slug="validation-error")
    end = end or now + timedelta(minutes=1)
    start = start or end - default_span
    if start >= end:
        raise Problem(422, "`from` must be before `to`", slug="validation-error")
    return start, end


async def series(db: Database, settings: Settings, *, principal: Principal, sensor_id: str, start: datetime | None,
                 end: datetime | None, interval: str, agg: str, limit: int,
                 cursor: datetime | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    start, end = parse_range(start, end, default_span=timedelta(hours=1) if interval == "raw" else timedelta(days=1))
    keep = await retention(db, settings, principal.org_id)
    days = keep["raw_retention_days"] if interval == "raw" else keep["rollup_retention_days"]
    horizon = datetime.now(UTC) - timedelta(days=days)
    meta: dict[str, Any] = {"sensor_id": sensor_id, "interval": interval, "agg": agg, "from": start, "to": end,
                            "available_from": horizon, "complete": start >= horizon, "next_cursor": None}
    if interval != "raw":
        seconds = INTERVAL_SECONDS[interval]
        if (end - start).total_seconds() / seconds > MAX_BUCKETS:
            raise Problem(422, f"the range spans more than {MAX_BUCKETS} {interval} buckets; pick a coarser "
                               "interval or a shorter range", slug="validation-error")
    async with db.transaction(org_id=principal.org_id) as conn:
        if await repo.get_sensor(conn, sensor_id) is None:
            raise not_found("sensor", sensor_id)
        if interval == "raw":
            after = cursor if cursor is not None and cursor >= start else None
            rows = await repo.raw_series(conn, sensor_id, start, end, limit=limit + 1, after=after)
            if len(rows) > limit:
                rows = rows[:limit]
                meta["next_cursor"] = rows[-1]["ts"].isoformat()
        else:
            rows = await repo.rollup_series(conn, sensor_id, start, end, seconds=INTERVAL_SECONDS[interval], agg=agg)
    return [{"ts": r["ts"], "value": r["value"]} for r in rows], meta


# ------------------------------------------------------------------ alert rules

async def _ensure_default(db: Database, org_id: str) -> None:
    async with db.transaction(org_id=org_id) as conn:
        await repo.ensure_default_rule(conn, org_id, new_id("rul"))


async def create_rule(db: Database, *, principal: Principal, body: AlertRuleIn) -> dict[str, Any]:
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        if body.sensor_id is not None and await repo.get_sensor(conn, body.sensor_id) is None:
            raise Problem(422, f"sensor {body.sensor_id} not found", slug="validation-error",
                          errors=[{"field": "sensor_id", "message": "unknown sensor", "code": "not_found"}])
        if body.building_id is not None and not await repo.building_exists(conn, body.building_id):
            raise Problem(422, f"building {body.building_id} not found", slug="validation-error",
                          errors=[{"field": "building_id", "message": "unknown building", "code": "not_found"}])
        row = await repo.insert_rule(conn, {"id": new_id("rul"), "org_id": principal.org_id,
                                            **body.model_dump()})
    return rule_view(row)


async def list_rules(db: Database, *, principal: Principal, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    await _ensure_default(db, principal.org_id)
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repo.list_rules(conn, limit=page.limit, offset=page.offset)
    return [rule_view(r) for r in rows], total


async def get_rule(db: Database, *, principal: Principal, rule_id: str) -> dict[str, Any]:
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_rule(conn, rule_id)
    if row is None:
        raise not_found("alert rule", rule_id)
    return rule_view(row)


async def update_rule(db: Database, *, principal: Principal, rule_id: str, body: AlertRulePatch) -> dict[str, Any]:
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        before = await repo.get_rule(conn, rule_id, for_update=True)
        if before is None:
            raise not_found("alert rule", rule_id)
        fields = {k: getattr(body, k) for k in body.model_fields_set}
        for required in ("name", "condition", "for_seconds", "severity", "enabled"):
            if required in fields and fields[required] is None:
                raise Problem(422, f"{required} cannot be null", slug="validation-error")
        merged = {**dict(before), **fields}
        try:
            check_rule_shape(merged["sensor_id"], merged["kind"], merged["building_id"], merged["condition"],
                             merged["threshold"], merged["threshold_high"])
        except ValueError as exc:
            raise Problem(422, str(exc), slug="validation-error") from exc
        row = await repo.update_rule(conn, rule_id, fields) if fields else before
    return rule_view(row)


async def delete_rule(db: Database, *, principal: Principal, rule_id: str) -> None:
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_rule(conn, rule_id, for_update=True)
        if row is None:
            raise not_found("alert rule", rule_id)
        if row["is_default"]:
            raise Problem(409, "the default water-leak rule cannot be deleted; disable it instead (enabled: false)",
                          slug="conflict")
        await repo.delete_rule(conn, rule_id)


# ------------------------------------------------------------------ alerts

async def list_alerts(db: Database, *, principal: Principal, page: PageParams,
                      **filters: Any) -> tuple[list[dict[str, Any]], int]:
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repo.list_alerts(conn, limit=page.limit, offset=page.offset, **filters)
    return [alert_view(r) for r in rows], total


async def get_alert(db: Database, *, principal: Principal, alert_id: str) -> dict[str, Any]:
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_alert(conn, alert_id)
    if row is None:
        raise not_found("alert", alert_id)
    return alert_view(row)
