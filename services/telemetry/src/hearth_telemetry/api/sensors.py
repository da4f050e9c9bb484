"""Sensor routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response
from hearth_contracts.telemetry import SensorKind
from hearth_kit.api import api_router, problems
from hearth_kit.auth import CurrentPrincipal
from hearth_kit.pagination import Pagination, page_body
from hearth_kit.runtime import Deps

from hearth_telemetry import service
from hearth_telemetry.api.common import WRITE_PROBLEMS, SensorId, cache_of, settings_of
from hearth_telemetry.models import BUILDING_ID, UNIT_ID, SensorDoc, SensorIn, SensorPage, SensorPatch

router = api_router(prefix="/v1", tags=["sensors"])


@router.post("/sensors", status_code=201, response_model=SensorDoc, operation_id="createSensor",
             responses=problems(403, 409))
async def create_sensor(body: SensorIn, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """Register a sensor in a building (and optionally a unit) of the caller's org."""
    sensor = await service.create_sensor(deps.db, settings_of(deps), principal=principal, body=body)
    cache_of(deps).forget(principal.org_id)
    return {"data": sensor}


@router.get("/sensors", response_model=SensorPage, operation_id="listSensors")
async def list_sensors(
    principal: CurrentPrincipal, deps: Deps, page: Pagination,
    building_id: Annotated[str | None, Query(pattern=BUILDING_ID)] = None,
    unit_id: Annotated[str | None, Query(pattern=UNIT_ID)] = None,
    kind: SensorKind | None = None,
    online: Annotated[bool | None, Query(description="Heard from within its offline window")] = None,
    status: Annotated[str | None, Query(pattern="^(active|retired)$")] = None,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$",
                                   description="Name or external id contains")] = None,
) -> dict[str, Any]:
    """The org's sensors, newest first, with their last reading."""
    items, total = await service.list_sensors(deps.db, settings_of(deps), principal=principal, page=page,
                                              building_id=building_id, unit_id=unit_id, kind=kind, online=online,
                                              q=q, status=status)
    return page_body(items, total=total, params=page)


@router.get("/sensors/{sensor_id}", response_model=SensorDoc, operation_id="getSensor")
async def get_sensor(sensor_id: SensorId, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One sensor with its last reading and when it was last heard from."""
    return {"data": await service.get_sensor(deps.db, settings_of(deps), principal=principal, sensor_id=sensor_id)}


@router.patch("/sensors/{sensor_id}", response_model=SensorDoc,
             operation_id="updateSensor", responses=WRITE_PROBLEMS)
async def update_sensor(sensor_id: SensorId, body: SensorPatch, principal: CurrentPrincipal,
                        deps: Deps) -> dict[str, Any]:
    """Change a sensor's name, unit, unit of measure, external id or offline window."""
    sensor = await service.update_sensor(deps.db, settings_of(deps), principal=principal, sensor_id=sensor_id,
                                         body=body)
    cache_of(deps).forget(principal.org_id, sensor_id)
    return {"data": sensor}


@router.delete("/sensors/{sensor_id}", status_code=204,
             operation_id="retireSensor", response_class=Response, responses=WRITE_PROBLEMS)
async def retire_sensor(sensor_id: SensorId, principal: CurrentPrincipal, deps: Deps) -> Response:
    """Retire a sensor: its history stays, new readings for it are refused."""
    await service.retire_sensor(deps.db, principal=principal, sensor_id=sensor_id)
    cache_of(deps).forget(principal.org_id, sensor_id)
    return Response(status_code=204)
