"""Unit routes (seed 003): list with filters and sorting, CRUD, bulk create, bulk status."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse
from hearth_kit.auth import CurrentPrincipal
from hearth_kit.pagination import Pagination, page_body
from hearth_kit.problems import Problem
from hearth_kit.runtime import Deps

from hearth_property.api.common import IdempotencyKey, create_once, traceparent
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

router = APIRouter(prefix="/v1", tags=["units"])

Status = Annotated[UnitStatus | None, Query(description="Filter by status")]
# Bounded by the columns they filter (numeric(16,2) prices, numeric(12,2) sizes): past them a filter
# cannot match anything and its bigint key would overflow (1e30 was a 500).
MinPrice = Annotated[Decimal | None, Query(ge=0, lt=10**14, description="Minimum price amount")]
MaxPrice = Annotated[Decimal | None, Query(ge=0, lt=10**14, description="Maximum price amount")]
Bedrooms = Annotated[int | None, Query(ge=0, le=100, description="Exact number of bedrooms")]
MinSize = Annotated[Decimal | None, Query(ge=0, lt=10**10, description="Minimum interior size in square metres")]
VisibilityQ = Annotated[Visibility | None, Query(description="Filter by visibility")]
AgentId = Annotated[str | None, Query(max_length=64, description="Filter by assigned agent")]
SortQ = Annotated[str | None, Query(
    max_length=20, description="price, -price, created_at, -created_at, bedrooms, size, unit_number (- = desc)")]


async def _list(deps: Deps, principal: CurrentPrincipal, page: Pagination, *, building_id: str | None,
                in_path: bool, status: str | None, min_price: Decimal | None, max_price: Decimal | None,
                bedrooms: int | None, min_size: Decimal | None, visibility: str | None, agent_id: str | None,
                sort: str | None) -> dict[str, Any]:
    check_price_range(min_price, max_price)
    parsed = parse_sort(sort)
    flt = UnitFilter(org_id=principal.org_id, visibilities=visible_for(principal.role), building_id=building_id,
                     status=status, min_price=min_price, max_price=max_price, bedrooms=bedrooms,
                     min_size=min_size, visibility=visibility, agent_id=agent_id,
                     extra={"building_in_path": in_path})
    items, total, capped = await service.list_units(deps.db, principal=principal, flt=flt, sort=parsed, page=page)
    body = page_body(items, total=total, params=page)
    if capped:
        body["meta"]["total_capped"] = True
        body["meta"]["total_cap"] = COUNT_CAP
    return body


@router.get("/units")
async def list_units(
    principal: CurrentPrincipal, deps: Deps, page: Pagination,
    building_id: Annotated[str | None, Query(max_length=64, description="Filter by building")] = None,
    property_id: Annotated[str | None, Query(max_length=64, description="Alias of building_id (seed 003)")] = None,
    status: Status = None, min_price: MinPrice = None, max_price: MaxPrice = None, bedrooms: Bedrooms = None,
    min_size: MinSize = None, visibility: VisibilityQ = None, agent_id: AgentId = None, sort: SortQ = None,
) -> dict[str, Any]:
    """Units the caller may see, filtered and sorted."""
    if building_id and property_id and building_id != property_id:
        raise Problem(400, "building_id and property_id disagree", slug="bad-request",
                      errors=[{"field": "property_id", "message": "must equal building_id when both are given"}])
    return await _list(deps, principal, page, building_id=building_id or property_id, in_path=False,
                       status=status, min_price=min_price, max_price=max_price, bedrooms=bedrooms,
                       min_size=min_size, visibility=visibility, agent_id=agent_id, sort=sort)


@router.get("/buildings/{building_id}/units")
async def list_building_units(
    building_id: str, principal: CurrentPrincipal, deps: Deps, page: Pagination,
    status: Status = None, min_price: MinPrice = None, max_price: MaxPrice = None, bedrooms: Bedrooms = None,
    min_size: MinSize = None, visibility: VisibilityQ = None, agent_id: AgentId = None, sort: SortQ = None,
) -> dict[str, Any]:
    """Units of one building (404 for an unknown building)."""
    return await _list(deps, principal, page, building_id=building_id, in_path=True, status=status,
                       min_price=min_price, max_price=max_price, bedrooms=bedrooms, min_size=min_size,
                       visibility=visibility, agent_id=agent_id, sort=sort)


@router.post("/units", status_code=201)
async def create_unit(body: UnitIn, principal: CurrentPrincipal, deps: Deps, request: Request,
                      idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Create a unit."""
    return await create_once(
        deps, principal, key=idempotency_key, request_body=body.model_dump(mode="json"),
        create=lambda conn: service.create_unit(conn, principal=principal, body=body,
                                                traceparent=traceparent(request)))


@router.post("/units/bulk", status_code=201)
async def bulk_create(
    principal: CurrentPrincipal, deps: Deps, request: Request,
    units: Annotated[list[dict[str, Any]], Body(embed=True, max_length=MAX_BULK_CREATE,
                                                 description="Up to 500 units, all or nothing")],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create up to 500 units at once; any bad item fails the lot, errors name each item's index."""
    principal.require_write()
    return await create_once(
        deps, principal, key=idempotency_key, request_body={"units": units},
        create=lambda conn: service.bulk_create(conn, principal=principal, items=units,
                                                traceparent=traceparent(request)))


@router.patch("/units/bulk/status")
async def bulk_status(body: BulkStatusIn, principal: CurrentPrincipal, deps: Deps,
                      request: Request) -> dict[str, Any]:
    """Set one status on up to 1,000 units; unknown ids fail the lot (404 listing `unknown_ids`)."""
    return {"data": await service.bulk_status(deps.db, principal=principal, body=body,
                                              traceparent=traceparent(request))}


@router.get("/units/{unit_id}")
async def get_unit(
    unit_id: str, principal: CurrentPrincipal, deps: Deps,
    expand: Annotated[str | None, Query(max_length=50, description="building,agent (property = building)")] = None,
) -> dict[str, Any]:
    """One unit, optionally with its building and agent."""
    return {"data": await service.get_unit(deps.db, principal=principal, unit_id=unit_id,
                                           expand=parse_expand(expand))}


@router.put("/units/{unit_id}")
async def replace_unit(unit_id: str, body: UnitReplace, principal: CurrentPrincipal, deps: Deps,
                       request: Request) -> dict[str, Any]:
    """Replace every field of a unit."""
    return {"data": await service.update_unit(deps.db, principal=principal, unit_id=unit_id, body=body,
                                              traceparent=traceparent(request))}


@router.patch("/units/{unit_id}")
async def patch_unit(unit_id: str, body: UnitPatch, principal: CurrentPrincipal, deps: Deps,
                     request: Request) -> dict[str, Any]:
    """Change some fields of a unit."""
    return {"data": await service.update_unit(deps.db, principal=principal, unit_id=unit_id, body=body,
                                              traceparent=traceparent(request))}


@router.delete("/units/{unit_id}", status_code=204)
async def delete_unit(unit_id: str, principal: CurrentPrincipal, deps: Deps, request: Request) -> Response:
    """Delete a unit that has no leases."""
    await service.delete_unit(deps.db, principal=principal, unit_id=unit_id, traceparent=traceparent(request))
    return Response(status_code=204)
