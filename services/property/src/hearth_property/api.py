"""HTTP routes of the property service: parse, call a use case, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from hearth_kit.auth import CurrentPrincipal
from hearth_kit.idempotency import run_idempotent
from hearth_kit.pagination import Pagination, page_body
from hearth_kit.runtime import Deps
from hearth_property import service
from hearth_property.domain import BuildingIn, BuildingStatus

router = APIRouter(prefix="/v1", tags=["buildings"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@router.post("/buildings", status_code=201)
async def create_building(
    body: BuildingIn, principal: CurrentPrincipal, deps: Deps, request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a building."""
    principal.require_write()
    async with deps.db.transaction(org_id=principal.org_id) as conn:

        async def create() -> tuple[int, Any]:
            view = await service.create_building(
                conn, principal=principal, body=body, traceparent=request.headers.get("traceparent"))
            return 201, {"data": view}

        status, doc = await run_idempotent(conn, org_id=principal.org_id, key=idempotency_key,
                                           request_body=body.model_dump(mode="json"), create=create)
    return JSONResponse(doc, status_code=status)


@router.get("/buildings")
async def list_buildings(
    principal: CurrentPrincipal, deps: Deps, page: Pagination,
    status: Annotated[BuildingStatus | None, Query(description="Filter by status")] = None,
) -> dict[str, Any]:
    """List the org's buildings, newest first."""
    items, total = await service.list_buildings(deps.db, principal=principal, page=page, status=status)
    return page_body(items, total=total, params=page)


@router.get("/buildings/{building_id}")
async def get_building(building_id: str, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One building."""
    return {"data": await service.get_building(deps.db, principal=principal, building_id=building_id)}
