"""Use cases of the telemetry service: each runs in the `Tx` the kit opened for it (one org, one transaction).

Sensors and alert rules are `Resource`s, so get/update/delete (ETag, If-Match → 412) are the kit's; their
lifecycle facts go to `telemetry.events` through the outbox in the same transaction.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from hearth_contracts.telemetry import (
    AlertRuleCreated,
    AlertRuleDeleted,
    AlertRuleUpdated,
    SensorRegistered,
    SensorRetired,
    SensorUpdated,
)
from hearth_kit.errors import Conflict, InvalidInput
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.resources import Resource, Row
from hearth_kit.tx import Tx
from pydantic import BaseModel

from hearth_telemetry import repository as repo
from hearth_telemetry.config import Settings
from hearth_telemetry.domain import DEFAULT_UNIT
from hearth_telemetry.models import AlertRuleIn, SensorIn, check_rule_shape
from hearth_telemetry.views import alert_view, rule_snapshot, rule_view, sensor_snapshot, sensor_view

T = TypeVar("T")


def _unknown(field: str, message: str, detail: str) -> InvalidInput:
    return InvalidInput(detail, errors=[{"field": field, "message": message, "code": "not_found"}])


# ------------------------------------------------------------------ sensors

SENSOR_FIELDS = ("name", "unit_id", "unit_of_measure", "external_id", "offline_after_seconds")
_EXTERNAL_ID_TAKEN = "external_id is already used by another sensor"


async def _apply_sensor_patch(tx: Tx, before: Row, body: BaseModel, partial: bool) -> dict[str, Any]:
    """The fields a PATCH changes, checked: unit in the sensor's building, external id free, no null name."""
    sent = body.model_fields_set if partial else set(SENSOR_FIELDS)
    fields = {k: getattr(body, k) for k in SENSOR_FIELDS if k in sent and getattr(body, k) != before[k]}
    for required in ("name", "unit_of_measure"):
        if required in sent and getattr(body, required) is None:
            raise InvalidInput(f"{required} cannot be null",
                               errors=[{"field": required, "message": "cannot be null", "code": "null"}])
    unit_id = fields.get("unit_id")
    if unit_id is not None and await repo.unit_building(tx.conn, unit_id) != before["building_id"]:
        raise _unknown("unit_id", "unknown unit", "unit not found in the sensor's building")
    if fields.get("external_id") and await repo.external_id_taken(tx.conn, tx.org_id, fields["external_id"],
                                                                  except_id=before["id"]):
        raise Conflict(_EXTERNAL_ID_TAKEN, code="external-id-taken")
    return fields


async def _save_sensor(tx: Tx, sensor_id: str, fields: dict[str, Any]) -> Row:
    if not fields:  # nothing changed: same version, same ETag
        row = await repo.get_sensor(tx.conn, sensor_id)
        assert row is not None
        return row
    try:
        return await repo.update_sensor(tx.conn, sensor_id, fields)
    except asyncpg.UniqueViolationError as exc:  # the same external id taken concurrently
        raise Conflict(_EXTERNAL_ID_TAKEN, code="external-id-taken") from exc


@functools.cache
def sensor_resource(default_offline: int) -> Resource:
    """The sensor resource; its view shows the service's offline window where a sensor has none of its own."""
    return Resource(
        kind="sensor", path="/v1/sensors/{id}", view=functools.partial(sensor_view, default_offline=default_offline),
        load=lambda tx, ident, lock: repo.get_sensor(tx.conn, ident, for_update=lock),
        fields=SENSOR_FIELDS, apply=_apply_sensor_patch, save=_save_sensor,
        updated=lambda row: SensorUpdated(**sensor_snapshot(row)),
    )


async def _eventually(check: Callable[[], Awaitable[T]], *, seconds: float) -> T:
    """Ask until the answer is truthy, up to `seconds`: an id created a moment ago may still be on its way
    from property.events (each statement of the open transaction sees what committed since)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = await check()
        if answer or time.monotonic() >= deadline:
            return answer
        await asyncio.sleep(0.1)


async def _check_location(tx: Tx, settings: Settings, building_id: str, unit_id: str | None) -> None:
    wait = settings.projection_wait_seconds
    if not await _eventually(lambda: repo.building_exists(tx.conn, building_id), seconds=wait):
        raise _unknown("building_id", "unknown building", f"building {building_id} not found")
    if unit_id is not None and await _eventually(lambda: repo.unit_building(tx.conn, unit_id),
                                                 seconds=wait) != building_id:
        raise _unknown("unit_id", "unknown unit for this building",
                       f"unit {unit_id} not found in building {building_id}")


async def create_sensor(tx: Tx, settings: Settings, body: SensorIn) -> dict[str, Any]:
    """Register a sensor in a building (and unit) the property projection knows, and announce it."""
    await _check_location(tx, settings, body.building_id, body.unit_id)
    await ensure_default_rule(tx)
    if body.external_id and await repo.external_id_taken(tx.conn, tx.org_id, body.external_id):
        raise Conflict(f"external_id {body.external_id!r} is already used by another sensor", code="external-id-taken")
    try:
        row = await repo.insert_sensor(tx.conn, {
            "id": new_id("sen"), "org_id": tx.org_id, "building_id": body.building_id, "unit_id": body.unit_id,
            "kind": body.kind, "unit_of_measure": body.unit_of_measure or DEFAULT_UNIT[body.kind],
            "name": body.name, "external_id": body.external_id,
            "offline_after_seconds": body.offline_after_seconds,
        })
    except asyncpg.UniqueViolationError as exc:
        raise Conflict(_EXTERNAL_ID_TAKEN, code="external-id-taken") from exc
    await tx.emit(SensorRegistered(**sensor_snapshot(row)), subject=row["id"])
    full = await repo.get_sensor(tx.conn, row["id"])
    assert full is not None
    return sensor_view(full, default_offline=settings.offline_after_seconds)


async def list_sensors(tx: Tx, settings: Settings, *, page: PageParams,
                       **filters: Any) -> tuple[list[dict[str, Any]], int]:
    """A page of the org's sensors, newest first."""
    default = settings.offline_after_seconds
    rows, total = await repo.list_sensors(tx.conn, default_offline=default, limit=page.limit, offset=page.offset,
                                          **filters)
    return [sensor_view(r, default_offline=default) for r in rows], total


async def retire_sensor(tx: Tx, row: Row) -> None:
    """A retired sensor keeps its history and accepts no more readings (retiring twice changes nothing)."""
    if row["status"] == "retired":
        return
    after = await repo.update_sensor(tx.conn, row["id"], {"status": "retired"})
    await tx.emit(SensorRetired(**sensor_snapshot(after)), subject=row["id"])


# ------------------------------------------------------------------ alert rules

RULE_FIELDS = ("name", "condition", "threshold", "threshold_high", "for_seconds", "severity", "enabled")


async def _apply_rule_patch(tx: Tx, before: Row, body: BaseModel, partial: bool) -> dict[str, Any]:
    """The fields a PATCH changes, checked as a whole rule (thresholds fit the condition)."""
    sent = body.model_fields_set if partial else set(RULE_FIELDS)
    fields = {k: getattr(body, k) for k in RULE_FIELDS if k in sent}
    for required in ("name", "condition", "for_seconds", "severity", "enabled"):
        if required in fields and fields[required] is None:
            raise InvalidInput(f"{required} cannot be null",
                               errors=[{"field": required, "message": "cannot be null", "code": "null"}])
    merged = {**dict(before), **fields}
    try:
        check_rule_shape(merged["sensor_id"], merged["kind"], merged["building_id"], merged["condition"],
                         merged["threshold"], merged["threshold_high"])
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    return {k: v for k, v in fields.items() if v != before[k]}


async def _save_rule(tx: Tx, rule_id: str, fields: dict[str, Any]) -> Row:
    if not fields:
        row = await repo.get_rule(tx.conn, rule_id)
        assert row is not None
        return row
    return await repo.update_rule(tx.conn, rule_id, fields)


RULE = Resource(
    kind="alert rule", path="/v1/alert-rules/{id}", view=rule_view,
    load=lambda tx, ident, lock: repo.get_rule(tx.conn, ident, for_update=lock),
    fields=RULE_FIELDS, apply=_apply_rule_patch, save=_save_rule,
    updated=lambda row: AlertRuleUpdated(**rule_snapshot(row)),
)


async def ensure_default_rule(tx: Tx) -> None:
    """Every org gets the water-leak rule once (announced when it is made)."""
    row = await repo.ensure_default_rule(tx.conn, tx.org_id, new_id("rul"))
    if row is not None:
        await tx.emit(AlertRuleCreated(**rule_snapshot(row)), subject=row["id"])


async def create_rule(tx: Tx, settings: Settings, body: AlertRuleIn) -> dict[str, Any]:
    """A rule for one sensor of the org, or for a kind (optionally in one building); announced."""
    if body.sensor_id is not None and await repo.get_sensor(tx.conn, body.sensor_id) is None:
        raise _unknown("sensor_id", "unknown sensor", f"sensor {body.sensor_id} not found")
    if body.building_id is not None:  # a building created a moment ago is waited for, as for sensors
        await _check_location(tx, settings, body.building_id, None)
    row = await repo.insert_rule(tx.conn, {"id": new_id("rul"), "org_id": tx.org_id, **body.model_dump()})
    await tx.emit(AlertRuleCreated(**rule_snapshot(row)), subject=row["id"])
    return rule_view(row)


async def list_rules(tx: Tx, *, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    await ensure_default_rule(tx)
    rows, total = await repo.list_rules(tx.conn, limit=page.limit, offset=page.offset)
    return [rule_view(r) for r in rows], total


async def remove_rule(tx: Tx, row: Row) -> None:
    """Delete a rule (its open episodes stay as they are); the default rule can only be disabled."""
    if row["is_default"]:
        raise Conflict("the default water-leak rule cannot be deleted; disable it instead (enabled: false)",
                       code="default-rule")
    await repo.delete_rule(tx.conn, row["id"])
    await tx.emit(AlertRuleDeleted(rule_id=row["id"], org_id=tx.org_id), subject=row["id"])


# ------------------------------------------------------------------ alerts

ALERT = Resource(kind="alert", path="/v1/alerts/{id}", view=alert_view,
                 load=lambda tx, ident, lock: repo.get_alert(tx.conn, ident))


async def list_alerts(tx: Tx, *, page: PageParams, **filters: Any) -> tuple[list[dict[str, Any]], int]:
    rows, total = await repo.list_alerts(tx.conn, limit=page.limit, offset=page.offset, **filters)
    return [alert_view(r) for r in rows], total
