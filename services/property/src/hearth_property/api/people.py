"""Resident, agent and lease routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from hearth_kit.auth import CurrentPrincipal
from hearth_kit.pagination import PageParams, Pagination, page_body
from hearth_kit.runtime import Deps

from hearth_property.api.common import IdempotencyKey, create_once, traceparent
from hearth_property.domain import (
    AgentIn,
    AgentPatch,
    LeaseIn,
    LeaseStatus,
    ResidentIn,
    ResidentPatch,
    ResidentStatus,
    TerminateIn,
)
from hearth_property.service import agents, leases, residents

router = APIRouter(prefix="/v1")
Id = Annotated[str | None, Query(max_length=64)]
Search = Annotated[str | None, Query(max_length=200, description="Name/e-mail contains (case-insensitive)")]


# --- residents ---------------------------------------------------------------------------------


@router.post("/residents", status_code=201, tags=["residents"])
async def create_resident(body: ResidentIn, principal: CurrentPrincipal, deps: Deps, request: Request,
                          idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Create a resident."""
    return await create_once(
        deps, principal, key=idempotency_key, request_body=body.model_dump(mode="json"),
        create=lambda conn: residents.create_resident(conn, principal=principal, body=body,
                                                      traceparent=traceparent(request)))


@router.get("/residents", tags=["residents"])
async def list_residents(principal: CurrentPrincipal, deps: Deps, page: Pagination, building_id: Id = None,
                         unit_id: Id = None, status: Annotated[ResidentStatus | None, Query()] = None,
                         q: Search = None) -> dict[str, Any]:
    """Residents, filtered by building/unit (through their leases), status, or a name/e-mail search."""
    items, total = await residents.list_residents(deps.db, principal=principal, page=page, building_id=building_id,
                                                  unit_id=unit_id, status=status, q=q)
    return page_body(items, total=total, params=page)


@router.get("/residents/{resident_id}", tags=["residents"])
async def get_resident(
    resident_id: str, principal: CurrentPrincipal, deps: Deps,
    payments_page: Annotated[int, Query(ge=1, le=1_000_000, description="Page of payment records")] = 1,
    payments_limit: Annotated[int, Query(ge=1, le=100, description="Payment records per page")] = 100,
) -> dict[str, Any]:
    """A resident with lease history and a page of payment records (`payments_meta` has the total)."""
    page = PageParams(page=payments_page, limit=payments_limit)
    return {"data": await residents.get_resident(deps.db, principal=principal, resident_id=resident_id,
                                                 payments_page=page)}


@router.delete("/residents/{resident_id}", status_code=204, tags=["residents"])
async def delete_resident(resident_id: str, principal: CurrentPrincipal, deps: Deps, request: Request) -> Response:
    """Delete a resident (409 while they hold an active or future lease)."""
    await residents.delete_resident(deps.db, principal=principal, resident_id=resident_id,
                                    traceparent=traceparent(request))
    return Response(status_code=204)


@router.put("/residents/{resident_id}", tags=["residents"])
async def replace_resident(resident_id: str, body: ResidentIn, principal: CurrentPrincipal, deps: Deps,
                           request: Request) -> dict[str, Any]:
    """Replace every field of a resident."""
    return {"data": await residents.update_resident(deps.db, principal=principal, resident_id=resident_id,
                                                    body=body, traceparent=traceparent(request))}


@router.patch("/residents/{resident_id}", tags=["residents"])
async def patch_resident(resident_id: str, body: ResidentPatch, principal: CurrentPrincipal, deps: Deps,
                         request: Request) -> dict[str, Any]:
    """Change some fields of a resident."""
    return {"data": await residents.update_resident(deps.db, principal=principal, resident_id=resident_id,
                                                    body=body, traceparent=traceparent(request))}


# --- agents ------------------------------------------------------------------------------------


@router.post("/agents", status_code=201, tags=["agents"])
async def create_agent(body: AgentIn, principal: CurrentPrincipal, deps: Deps, request: Request,
                       idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Create an agent."""
    return await create_once(
        deps, principal, key=idempotency_key, request_body=body.model_dump(mode="json"),
        create=lambda conn: agents.create_agent(conn, principal=principal, body=body,
                                                traceparent=traceparent(request)))


@router.get("/agents", tags=["agents"])
async def list_agents(principal: CurrentPrincipal, deps: Deps, page: Pagination, q: Search = None) -> dict[str, Any]:
    """Agents, newest first."""
    items, total = await agents.list_agents(deps.db, principal=principal, page=page, q=q)
    return page_body(items, total=total, params=page)


@router.get("/agents/{agent_id}", tags=["agents"])
async def get_agent(agent_id: str, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One agent."""
    return {"data": await agents.get_agent(deps.db, principal=principal, agent_id=agent_id)}


@router.put("/agents/{agent_id}", tags=["agents"])
async def replace_agent(agent_id: str, body: AgentIn, principal: CurrentPrincipal, deps: Deps,
                        request: Request) -> dict[str, Any]:
    """Replace every field of an agent."""
    return {"data": await agents.update_agent(deps.db, principal=principal, agent_id=agent_id, body=body,
                                              traceparent=traceparent(request))}


@router.patch("/agents/{agent_id}", tags=["agents"])
async def patch_agent(agent_id: str, body: AgentPatch, principal: CurrentPrincipal, deps: Deps,
                      request: Request) -> dict[str, Any]:
    """Change some fields of an agent."""
    return {"data": await agents.update_agent(deps.db, principal=principal, agent_id=agent_id, body=body,
                                              traceparent=traceparent(request))}


# --- leases ------------------------------------------------------------------------------------


@router.post("/leases", status_code=201, tags=["leases"])
async def create_lease(body: LeaseIn, principal: CurrentPrincipal, deps: Deps, request: Request,
                       idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Sign a lease (409 when it overlaps another lease on the unit)."""
    return await create_once(
        deps, principal, key=idempotency_key, request_body=body.model_dump(mode="json"),
        create=lambda conn: leases.create_lease(conn, principal=principal, body=body,
                                                traceparent=traceparent(request)))


@router.get("/leases", tags=["leases"])
async def list_leases(principal: CurrentPrincipal, deps: Deps, page: Pagination, unit_id: Id = None,
                      resident_id: Id = None,
                      status: Annotated[LeaseStatus | None, Query()] = None) -> dict[str, Any]:
    """Leases, newest start first."""
    items, total = await leases.list_leases(deps.db, principal=principal, page=page, unit_id=unit_id,
                                            resident_id=resident_id, status=status)
    return page_body(items, total=total, params=page)


@router.get("/leases/{lease_id}", tags=["leases"])
async def get_lease(lease_id: str, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One lease."""
    return {"data": await leases.get_lease(deps.db, principal=principal, lease_id=lease_id)}


@router.post("/leases/{lease_id}/terminate", tags=["leases"])
async def terminate_lease(lease_id: str, principal: CurrentPrincipal, deps: Deps, request: Request,
                          body: TerminateIn | None = None) -> dict[str, Any]:
    """Terminate a lease from `date` (default today in the building's time zone)."""
    return {"data": await leases.terminate_lease(deps.db, principal=principal, lease_id=lease_id,
                                                 body=body or TerminateIn(), traceparent=traceparent(request))}
