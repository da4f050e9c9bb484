"""Member routes (`/v1/members`): the org's people; admins and managers manage them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from hearth_contracts.auth import KeyRole
from hearth_kit.auth import CurrentPrincipal
from hearth_kit.pagination import Pagination, page_body
from hearth_kit.routes import IdempotencyKey, create_once, traceparent
from hearth_kit.runtime import Deps
from pydantic import BaseModel

from hearth_auth_token import members
from hearth_auth_token.domain import MemberIn, MemberPatch

members_router = APIRouter(prefix="/v1", tags=["members"])
_MANAGERS = ("admin", "manager")


class MemberOut(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    role: KeyRole
    created_at: str
    updated_at: str


class MemberDoc(BaseModel):
    data: MemberOut


class MemberPage(BaseModel):
    data: list[MemberOut]
    meta: dict[str, int]


@members_router.post("/members", status_code=201, response_model=MemberDoc, operation_id="createMember")
async def create_member(body: MemberIn, principal: CurrentPrincipal, deps: Deps, request: Request,
                        idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Add a person to the org (admins and managers)."""
    principal.require_role(*_MANAGERS)
    return await create_once(deps, principal, key=idempotency_key, request_body=body.model_dump(mode="json"),
                             create=lambda conn: members.create_member(conn, principal=principal, body=body,
                                                                       traceparent=traceparent(request)))


@members_router.get("/members", response_model=MemberPage, operation_id="listMembers")
async def list_members(principal: CurrentPrincipal, deps: Deps, page: Pagination,
                       role: Annotated[KeyRole | None, Query(description="Only members with this role")] = None,
                       ) -> dict[str, Any]:
    """The org's members, newest first (admins and managers)."""
    principal.require_role(*_MANAGERS)
    items, total = await members.list_members(deps.db, principal=principal, role=role, page=page)
    return page_body(items, total=total, params=page)


@members_router.get("/members/{member_id}", response_model=MemberDoc, operation_id="getMember")
async def get_member(member_id: str, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One member."""
    principal.require_role(*_MANAGERS)
    return {"data": await members.get_member(deps.db, principal=principal, member_id=member_id)}


@members_router.patch("/members/{member_id}", response_model=MemberDoc, operation_id="updateMember")
async def update_member(member_id: str, body: MemberPatch, principal: CurrentPrincipal, deps: Deps,
                        request: Request) -> dict[str, Any]:
    """Change a member's name, e-mail, phone or role."""
    principal.require_role(*_MANAGERS)
    return {"data": await members.update_member(deps.db, principal=principal, member_id=member_id, body=body,
                                                traceparent=traceparent(request))}


@members_router.delete("/members/{member_id}", status_code=204, operation_id="deleteMember")
async def delete_member(member_id: str, principal: CurrentPrincipal, deps: Deps, request: Request) -> Response:
    """Remove a member who holds no live API key."""
    principal.require_role(*_MANAGERS)
    await members.delete_member(deps.db, principal=principal, member_id=member_id, traceparent=traceparent(request))
    return Response(status_code=204)
