"""Sensor routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response
from fastapi.responses import JSONResponse
from hearth_contracts.telemetry import SensorKind
from hearth_kit.api import Data, Page, api_router, problems
from hearth_kit.calls import Reader, Writer
from hearth_kit.pagination import Pagination, page_response

from hearth_telemetry import service
from hearth_telemetry.api.common import SensorId
from hearth_telemetry.models import BUILDING_ID, UNIT_ID, SensorIn, SensorOut, SensorPatch
from hearth_telemetry.runtime import TelemetryDeps

router = api_router(prefix="/v1", tags=["sensors"])


@router.post("/sensors", status_code=201, response_model=Data[SensorOut], responses=problems(409))
async def create_sensor(body: SensorIn, call: Writer, runtime: TelemetryDeps) -> JSONResponse:
    """Register a sensor in a building (and optionally a unit) of the caller's org (send an
    `Idempotency-Key` to make retries safe)."""
    settings = runtime.settings
    created = await call.create_once(body, lambda tx: service.create_sensor(tx, settings, body),
                                     resource=service.sensor_resource(settings.offline_after_seconds))
    runtime.state.sensor_cache.forget(call.principal.org_id)
    return created


@router.get("/sensors", response_model=Page[SensorOut])
async def list_sensors(
    call: Reader, runtime: TelemetryDeps, page: Pagination,
    building_id: Annotated[str | None, Query(pattern=BUILDING_ID)] = None,
    unit_id: Annotated[str | None, Query(pattern=UNIT_ID)] = None,
    kind: SensorKind | None = None,
    online: Annotated[bool | None, Query(description="Heard from within its offline window")] = None,
    status: Annotated[str | None, Query(pattern="^(active|retired)$")] = None,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$",
                                   description="Name or external id contains")] = None,
) -> JSONResponse:
    """The org's sensors, newest first, with their last reading."""
    items, total = await call.read(lambda tx: service.list_sensors(
        tx, runtime.settings, page=page, building_id=building_id, unit_id=unit_id, kind=kind, online=online, q=q,
        status=status))
    return page_response(items, total=total, params=page)


@router.get("/sensors/{sensor_id}", response_model=Data[SensorOut])
async def get_sensor(sensor_id: SensorId, call: Reader, runtime: TelemetryDeps) -> JSONResponse:
    """One sensor with its last reading and when it was last heard from (with its ETag)."""
    return await call.get(service.sensor_resource(runtime.settings.offline_after_seconds), sensor_id)


@router.patch("/sensors/{sensor_id}", response_model=Data[SensorOut], responses=problems(409))
async def update_sensor(sensor_id: SensorId, body: SensorPatch, call: Writer, runtime: TelemetryDeps) -> JSONResponse:
    """Change a sensor's name, unit, unit of measure, external id or offline window (If-Match honoured)."""
    updated = await call.update(service.sensor_resource(runtime.settings.offline_after_seconds), sensor_id, body)
    runtime.state.sensor_cache.forget(call.principal.org_id, sensor_id)
    return updated


@router.delete("/sensors/{sensor_id}", status_code=204)
async def retire_sensor(sensor_id: SensorId, call: Writer, runtime: TelemetryDeps) -> Response:
    """Retire a sensor: its history stays, new readings for it are refused (If-Match honoured)."""
    done = await call.delete(service.sensor_resource(runtime.settings.offline_after_seconds), sensor_id,
                             service.retire_sensor)
    runtime.state.sensor_cache.forget(call.principal.org_id, sensor_id)
    return done
