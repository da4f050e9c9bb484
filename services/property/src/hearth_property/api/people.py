"""Resident, agent and lease routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query
from fastapi.responses import JSONResponse
from hearth_kit.api import Data, Page, api_router, problems
from hearth_kit.calls import Reader, Writer, single
from hearth_kit.pagination import Pagination, page_response

from hearth_property.api import examples
from hearth_property.api.models import Agent, Lease, Resident, ResidentDetail
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
from hearth_property.service.agents import AGENT
from hearth_property.service.leases import LEASE
from hearth_property.service.residents import RESIDENT

router = api_router(prefix="/v1")
Id = Annotated[str | None, Query(max_length=64)]
Search = Annotated[str | None, Query(max_length=200, description="Name/e-mail contains (case-insensitive)")]


# --- residents ---------------------------------------------------------------------------------


@router.post("/residents", status_code=201, tags=["residents"], response_model=Data[Resident])
async def create_resident(body: Annotated[ResidentIn, Body(openapi_examples=examples.RESIDENT)],
                          call: Writer) -> JSONResponse:
    """Create a resident."""
    return await call.create_once(body, lambda tx: residents.create_resident(tx, body), resource=RESIDENT)


@router.get("/residents", tags=["residents"], response_model=Page[Resident])
async def list_residents(call: Reader, page: Pagination, building_id: Id = None, unit_id: Id = None,
                         status: Annotated[ResidentStatus | None, Query()] = None,
                         q: Search = None) -> JSONResponse:
    """Residents, filtered by building/unit (through their leases), status, or a name/e-mail search."""
    items, total = await call.read(lambda tx: residents.list_residents(
        tx, page=page, building_id=building_id, unit_id=unit_id, status=status, q=q))
    return page_response(items, total=total, params=page)


@router.get("/residents/{resident_id}", tags=["residents"], response_model=Data[ResidentDetail])
async def get_resident(resident_id: str, call: Reader) -> JSONResponse:
    """A resident with lease history and payment records."""
    return single(await call.read(lambda tx: residents.get_resident(tx, resident_id)))


@router.put("/residents/{resident_id}", tags=["residents"], response_model=Data[Resident])
async def replace_resident(resident_id: str, body: ResidentIn, call: Writer) -> JSONResponse:
    """Replace every field of a resident."""
    return await call.update(RESIDENT, resident_id, body)


@router.patch("/residents/{resident_id}", tags=["residents"], response_model=Data[Resident])
async def patch_resident(resident_id: str, body: ResidentPatch, call: Writer) -> JSONResponse:
    """Change some fields of a resident."""
    return await call.update(RESIDENT, resident_id, body)


# --- agents ------------------------------------------------------------------------------------


@router.post("/agents", status_code=201, tags=["agents"], response_model=Data[Agent])
async def create_agent(body: Annotated[AgentIn, Body(openapi_examples=examples.AGENT)],
                       call: Writer) -> JSONResponse:
    """Create an agent."""
    return await call.create_once(body, lambda tx: agents.create_agent(tx, body), resource=AGENT)


@router.get("/agents", tags=["agents"], response_model=Page[Agent])
async def list_agents(call: Reader, page: Pagination, q: Search = None) -> JSONResponse:
    """Agents, newest first."""
    items, total = await call.read(lambda tx: agents.list_agents(tx, page=page, q=q))
    return page_response(items, total=total, params=page)


@router.get("/agents/{agent_id}", tags=["agents"], response_model=Data[Agent])
async def get_agent(agent_id: str, call: Reader) -> JSONResponse:
    """One agent."""
    return await call.get(AGENT, agent_id)


@router.put("/agents/{agent_id}", tags=["agents"], response_model=Data[Agent])
async def replace_agent(agent_id: str, body: AgentIn, call: Writer) -> JSONResponse:
    """Replace every field of an agent."""
    return await call.update(AGENT, agent_id, body)


@router.patch("/agents/{agent_id}", tags=["agents"], response_model=Data[Agent])
async def patch_agent(agent_id: str, body: AgentPatch, call: Writer) -> JSONResponse:
    """Change some fields of an agent."""
    return await call.update(AGENT, agent_id, body)


# --- leases ------------------------------------------------------------------------------------


@router.post("/leases", status_code=201, tags=["leases"], response_model=Data[Lease], responses=problems(409))
async def create_lease(body: Annotated[LeaseIn, Body(openapi_examples=examples.LEASE)], call: Writer) -> JSONResponse:
    """Sign a lease (409 when it overlaps another lease on the unit)."""
    return await call.create_once(body, lambda tx: leases.create_lease(tx, body), resource=LEASE)


@router.get("/leases", tags=["leases"], response_model=Page[Lease])
async def list_leases(call: Reader, page: Pagination, unit_id: Id = None, resident_id: Id = None,
                      status: Annotated[LeaseStatus | None, Query()] = None) -> JSONResponse:
    """Leases, newest start first."""
    items, total = await call.read(lambda tx: leases.list_leases(tx, page=page, unit_id=unit_id,
                                                                 resident_id=resident_id, status=status))
    return page_response(items, total=total, params=page)


@router.get("/leases/{lease_id}", tags=["leases"], response_model=Data[Lease])
async def get_lease(lease_id: str, call: Reader) -> JSONResponse:
    """One lease."""
    return await call.get(LEASE, lease_id)


@router.post("/leases/{lease_id}/terminate", tags=["leases"], response_model=Data[Lease], responses=problems(409))
async def terminate_lease(lease_id: str, call: Writer,
                          body: Annotated[TerminateIn | None, Body(openapi_examples=examples.TERMINATE)] = None,
                          ) -> JSONResponse:
    """Terminate a lease from `date` (default today in the building's time zone)."""
    return single(await call.write(lambda tx: leases.terminate_lease(tx, lease_id, body or TerminateIn())))
