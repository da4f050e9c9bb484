"""Unit routes (seed 003): list with filters and sorting, CRUD, bulk create, bulk status."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Body, Query, Response
from fastapi.responses import JSONResponse
from hearth_kit.api import Data, Page, api_router, problems
from hearth_kit.calls import Call, Reader, Writer, single
from hearth_kit.errors import BadRequest
from hearth_kit.pagination import Pagination, page_response

from hearth_property.api import examples
from hearth_property.api.models import BulkStatusResult, Unit
from hearth_property.domain import (
    MAX_BULK_CREATE,
    BulkStatusIn,
    UnitIn,
    UnitPatch,
    UnitReplace,
    UnitStatus,
    Visibility,
    check_price_range,
    parse_expand,
    parse_sort,
    visible_for,
)
from hearth_property.repository.units import COUNT_CAP, UnitFilter
from hearth_property.service import units as service
from hearth_property.service.units import UNIT

router = api_router(prefix="/v1", tags=["units"])

Status = Annotated[UnitStatus | None, Query(description="Filter by status")]
MinPrice = Annotated[Decimal | None, Query(ge=0, description="Minimum price amount")]
MaxPrice = Annotated[Decimal | None, Query(ge=0, description="Maximum price amount")]
Bedrooms = Annotated[int | None, Query(ge=0, le=100, description="Exact number of bedrooms")]
MinSize = Annotated[Decimal | None, Query(ge=0, description="Minimum interior size in square metres")]
VisibilityQ = Annotated[Visibility | None, Query(description="Filter by visibility")]
AgentId = Annotated[str | None, Query(max_length=64, description="Filter by assigned agent")]
SortQ = Annotated[str | None, Query(
    max_length=20, description="price, -price, created_at, -created_at, bedrooms, size, unit_number (- = desc)")]


async def _list(call: Call, page: Pagination, *, building_id: str | None, in_path: bool, status: str | None,
                min_price: Decimal | None, max_price: Decimal | None, bedrooms: int | None,
                min_size: Decimal | None, visibility: str | None, agent_id: str | None,
                sort: str | None) -> JSONResponse:
    check_price_range(min_price, max_price)
    parsed = parse_sort(sort)
    flt = UnitFilter(org_id=call.principal.org_id, visibilities=visible_for(call.principal.role),
                     building_id=building_id, status=status, min_price=min_price, max_price=max_price,
                     bedrooms=bedrooms, min_size=min_size, visibility=visibility, agent_id=agent_id)
    items, total, capped = await call.read(lambda tx: service.list_units(tx, flt=flt, sort=parsed, page=page,
                                                                         building_in_path=in_path))
    extra: dict[str, Any] = {"total_capped": True, "total_cap": COUNT_CAP} if capped else {}
    return page_response(items, total=total, params=page, **extra)


@router.get("/units", response_model=Page[Unit], responses=problems(400))
async def list_units(
    call: Reader, page: Pagination,
    building_id: Annotated[str | None, Query(max_length=64, description="Filter by building")] = None,
    property_id: Annotated[str | None, Query(max_length=64, description="Alias of building_id (seed 003)")] = None,
    status: Status = None, min_price: MinPrice = None, max_price: MaxPrice = None, bedrooms: Bedrooms = None,
    min_size: MinSize = None, visibility: VisibilityQ = None, agent_id: AgentId = None, sort: SortQ = None,
) -> JSONResponse:
    """Units the caller may see, filtered and sorted."""
    if building_id and property_id and building_id != property_id:
        raise BadRequest("building_id and property_id disagree",
                         errors=[{"field": "property_id", "message": "must equal building_id when both are given"}])
    return await _list(call, page, building_id=building_id or property_id, in_path=False,
                       status=status, min_price=min_price, max_price=max_price, bedrooms=bedrooms,
                       min_size=min_size, visibility=visibility, agent_id=agent_id, sort=sort)


@router.get("/buildings/{building_id}/units", response_model=Page[Unit], responses=problems(400))
async def list_building_units(
    building_id: str, call: Reader, page: Pagination,
    status: Status = None, min_price: MinPrice = None, max_price: MaxPrice = None, bedrooms: Bedrooms = None,
    min_size: MinSize = None, visibility: VisibilityQ = None, agent_id: AgentId = None, sort: SortQ = None,
) -> JSONResponse:
    """Units of one building (404 for an unknown building)."""
    return await _list(call, page, building_id=building_id, in_path=True, status=status,
                       min_price=min_price, max_price=max_price, bedrooms=bedrooms, min_size=min_size,
                       visibility=visibility, agent_id=agent_id, sort=sort)


@router.post("/units", status_code=201, response_model=Data[Unit], responses=problems(409))
async def create_unit(body: Annotated[UnitIn, Body(openapi_examples=examples.UNIT)], call: Writer) -> JSONResponse:
    """Create a unit."""
    return await call.create_once(body, lambda tx: service.create_unit(tx, body), resource=UNIT)


@router.post("/units/bulk", status_code=201, response_model=Data[list[Unit]], responses=problems(409),
             openapi_extra={"requestBody": {"content": {"application/json": {"examples": {
                 "two": {"summary": "Two units at once", "value": examples.BULK["two"]["value"]}}}}}})
async def bulk_create(
    call: Writer,
    units: Annotated[list[dict[str, Any]], Body(embed=True, max_length=MAX_BULK_CREATE,
                                                 description="Up to 500 units, all or nothing")],
) -> JSONResponse:
    """Create up to 500 units at once; any bad item fails the lot, errors name each item's index."""
    return await call.create_once({"units": units}, lambda tx: service.bulk_create(tx, units))


@router.patch("/units/bulk/status", response_model=Data[BulkStatusResult])
async def bulk_status(body: Annotated[BulkStatusIn, Body(openapi_examples=examples.BULK_STATUS)],
                      call: Writer) -> JSONResponse:
    """Set one status on up to 1,000 units; unknown ids fail the lot (404 listing `unknown_ids`)."""
    return JSONResponse({"data": await call.write(lambda tx: service.bulk_status(tx, body))})


@router.get("/units/{unit_id}", response_model=Data[Unit])
async def get_unit(
    unit_id: str, call: Reader,
    expand: Annotated[str | None, Query(max_length=50, description="building,agent (property = building)")] = None,
) -> JSONResponse:
    """One unit, optionally with its building and agent."""
    wanted = parse_expand(expand)
    return single(await call.read(lambda tx: service.get_unit(tx, unit_id, expand=wanted)))


@router.put("/units/{unit_id}", response_model=Data[Unit], responses=problems(409))
async def replace_unit(unit_id: str, body: UnitReplace, call: Writer) -> JSONResponse:
    """Replace every field of a unit (its building cannot change)."""
    return await call.update(UNIT, unit_id, body)


@router.patch("/units/{unit_id}", response_model=Data[Unit], responses=problems(409))
async def patch_unit(unit_id: str, body: Annotated[UnitPatch, Body(openapi_examples=examples.UNIT_PATCH)],
                     call: Writer) -> JSONResponse:
    """Change some fields of a unit."""
    return await call.update(UNIT, unit_id, body)


@router.delete("/units/{unit_id}", status_code=204, responses=problems(409))
async def delete_unit(unit_id: str, call: Writer) -> Response:
    """Delete a unit that has no leases."""
    return await call.delete(UNIT, unit_id, service.remove_unit)
