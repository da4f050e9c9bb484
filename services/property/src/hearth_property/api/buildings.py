"""Building routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query, Response
from fastapi.responses import JSONResponse
from hearth_kit.api import Data, Page, api_router, problems
from hearth_kit.calls import Reader, Writer
from hearth_kit.pagination import Pagination, page_response

from hearth_property.api import examples
from hearth_property.api.models import Building
from hearth_property.domain import BuildingIn, BuildingPatch, BuildingStatus, BuildingType
from hearth_property.service import buildings
from hearth_property.service.buildings import BUILDING

router = api_router(prefix="/v1", tags=["buildings"])


@router.post("/buildings", status_code=201, response_model=Data[Building])
async def create_building(body: Annotated[BuildingIn, Body(openapi_examples=examples.BUILDING)],
                          call: Writer) -> JSONResponse:
    """Create a building (send an `Idempotency-Key` to make retries safe)."""
    return await call.create_once(body, lambda tx: buildings.create_building(tx, body), resource=BUILDING)


@router.get("/buildings", response_model=Page[Building])
async def list_buildings(
    call: Reader, page: Pagination,
    status: Annotated[BuildingStatus | None, Query(description="Filter by status")] = None,
    type: Annotated[BuildingType | None, Query(description="Filter by type")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name contains (case-insensitive)")] = None,
) -> JSONResponse:
    """List the org's buildings, newest first."""
    items, total = await call.read(lambda tx: buildings.list_buildings(tx, page=page, status=status, type_=type, q=q))
    return page_response(items, total=total, params=page)


@router.get("/buildings/{building_id}", response_model=Data[Building])
async def get_building(building_id: str, call: Reader) -> JSONResponse:
    """One building (with its ETag)."""
    return await call.get(BUILDING, building_id)


@router.put("/buildings/{building_id}", response_model=Data[Building])
async def replace_building(building_id: str, body: Annotated[BuildingIn, Body(openapi_examples=examples.BUILDING)],
                           call: Writer) -> JSONResponse:
    """Replace every field of a building."""
    return await call.update(BUILDING, building_id, body)


@router.patch("/buildings/{building_id}", response_model=Data[Building])
async def patch_building(building_id: str, body: BuildingPatch, call: Writer) -> JSONResponse:
    """Change some fields of a building (status changes are announced as status_changed)."""
    return await call.update(BUILDING, building_id, body)


@router.delete("/buildings/{building_id}", status_code=204, responses=problems(409))
async def delete_building(building_id: str, call: Writer) -> Response:
    """Delete a building without units (409 while it has any)."""
    return await call.delete(BUILDING, building_id, buildings.remove_building)
