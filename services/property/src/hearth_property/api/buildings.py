"""Building routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from hearth_kit.auth import CurrentPrincipal
from hearth_kit.pagination import Pagination, page_body
from hearth_kit.runtime import Deps

from hearth_property import service
from hearth_property.api.common import IdempotencyKey, create_once, traceparent
from hearth_property.domain import BuildingIn, BuildingPatch, BuildingStatus, BuildingType

router = APIRouter(prefix="/v1", tags=["buildings"])


@router.post("/buildings", status_code=201)
async def create_building(body: BuildingIn, principal: CurrentPrincipal, deps: Deps, request: Request,
                          idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Create a building."""
    return await create_once(
        deps, principal, key=idempotency_key, request_body=body.model_dump(mode="json"),
        create=lambda conn: service.create_building(conn, principal=principal, body=body,
                                                    traceparent=traceparent(request)))


@router.get("/buildings")
async def list_buildings(
    principal: CurrentPrincipal, deps: Deps, page: Pagination,
    status: Annotated[BuildingStatus | None, Query(description="Filter by status")] = None,
    type: Annotated[BuildingType | None, Query(description="Filter by type")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name contains (case-insensitive)")] = None,
) -> dict[str, Any]:
    """List the org's buildings, newest first."""
    items, total = await service.list_buildings(deps.db, principal=principal, page=page, status=status,
                                                type_=type, q=q)
    return page_body(items, total=total, params=page)


@router.get("/buildings/{building_id}")
async def get_building(building_id: str, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One building."""
    return {"data": await service.get_building(deps.db, principal=principal, building_id=building_id)}


@router.put("/buildings/{building_id}")
async def replace_building(building_id: str, body: BuildingIn, principal: CurrentPrincipal, deps: Deps,
                           request: Request) -> dict[str, Any]:
    """Replace every field of a building."""
    return {"data": await service.update_building(deps.db, principal=principal, building_id=building_id,
                                                  body=body, traceparent=traceparent(request))}


@router.patch("/buildings/{building_id}")
async def patch_building(building_id: str, body: BuildingPatch, principal: CurrentPrincipal, deps: Deps,
                         request: Request) -> dict[str, Any]:
    """Change some fields of a building (status changes are announced as status_changed)."""
    return {"data": await service.update_building(deps.db, principal=principal, building_id=building_id,
                                                  body=body, traceparent=traceparent(request))}


@router.delete("/buildings/{building_id}", status_code=204)
async def delete_building(building_id: str, principal: CurrentPrincipal, deps: Deps, request: Request) -> Response:
    """Delete a building without units (409 while it has any)."""
    await service.delete_building(deps.db, principal=principal, building_id=building_id,
                                  traceparent=traceparent(request))
    return Response(status_code=204)
