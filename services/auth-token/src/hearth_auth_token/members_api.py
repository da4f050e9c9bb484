"""Member routes (`/v1/members`): the org's people; admins and managers manage them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response
from fastapi.responses import JSONResponse
from hearth_contracts.auth import KeyRole
from hearth_kit.api import Data, Page, api_router, problems
from hearth_kit.calls import Call, single, with_roles
from hearth_kit.pagination import Pagination, page_response

from hearth_auth_token import members
from hearth_auth_token.domain import MemberIn, MemberPatch
from hearth_auth_token.models import Member

members_router = api_router(prefix="/v1", tags=["members"])
Managers = Annotated[Call, with_roles("admin", "manager")]


@members_router.post("/members", status_code=201, response_model=Data[Member], responses=problems(409))
async def create_member(body: MemberIn, call: Managers) -> JSONResponse:
    """Add a person to the org (admins and managers)."""
    return await call.create_once(body, lambda tx: members.create_member(tx, body))


@members_router.get("/members", response_model=Page[Member])
async def list_members(call: Managers, page: Pagination,
                       role: Annotated[KeyRole | None, Query(description="Only members with this role")] = None,
                       ) -> JSONResponse:
    """The org's members, newest first (admins and managers)."""
    items, total = await call.read(lambda tx: members.list_members(tx, role=role, page=page))
    return page_response(items, total=total, params=page)


@members_router.get("/members/{member_id}", response_model=Data[Member])
async def get_member(member_id: str, call: Managers) -> JSONResponse:
    """One member."""
    return single(await call.read(lambda tx: members.get_member(tx, member_id)))


@members_router.patch("/members/{member_id}", response_model=Data[Member], responses=problems(409))
async def update_member(member_id: str, body: MemberPatch, call: Managers) -> JSONResponse:
    """Change a member's name, e-mail, phone or role."""
    return single(await call.write(lambda tx: members.update_member(tx, member_id, body)))


@members_router.delete("/members/{member_id}", status_code=204, responses=problems(409))
async def delete_member(member_id: str, call: Managers) -> Response:
    """Remove a member who holds no live API key."""
    await call.write(lambda tx: members.delete_member(tx, member_id))
    return Response(status_code=204)
