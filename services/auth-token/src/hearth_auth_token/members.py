"""Member use cases (the org's people): each one transaction with its outbox event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from hearth_contracts.auth import MemberCreated, MemberDeleted, MemberUpdated
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import looks_like, new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found

from hearth_auth_token import repository
from hearth_auth_token.domain import MemberIn, MemberPatch

SOURCE = "hearth/auth-token"


def _iso(value: datetime) -> str:
    return value.isoformat()


def member_view(row: asyncpg.Record) -> dict[str, Any]:
    """The API shape of a member."""
    return {"id": row["id"], "name": row["name"], "email": row["email"], "phone": row["phone"], "role": row["role"],
            "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"])}


def _snapshot(row: asyncpg.Record) -> dict[str, Any]:
    return {"member_id": row["id"], "org_id": row["org_id"], "name": row["name"], "email": row["email"],
            "phone": row["phone"], "role": row["role"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


async def _email_free(conn: asyncpg.Connection, email: str | None, except_id: str | None = None) -> None:
    if email is not None and await repository.email_taken(conn, email=email, except_id=except_id):
        raise Problem(409, f"a member with e-mail {email} already exists in this org", slug="member-email-taken")


async def _load(conn: asyncpg.Connection, member_id: str, *, for_update: bool = False) -> asyncpg.Record:
    row = await repository.get_member(conn, member_id, for_update=for_update) if looks_like("mem", member_id) else None
    if row is None:
        raise not_found("member", member_id[:100])
    return row


async def create_member(conn: asyncpg.Connection, *, principal: Principal, body: MemberIn,
                        traceparent: str | None = None) -> dict[str, Any]:
    """Add a person to the caller's org."""
    if await repository.get_org(conn, principal.org_id) is None:
        raise Problem(409, f"org {principal.org_id} is not registered with auth-token", slug="org-not-registered")
    await _email_free(conn, body.email)
    row = await repository.insert_member(conn, {"id": new_id("mem"), "org_id": principal.org_id, **body.model_dump()})
    await outbox.append(conn, source=SOURCE, data=MemberCreated(**_snapshot(row)), subject=row["id"],
                        org_id=principal.org_id, traceparent=traceparent)
    return member_view(row)


async def get_member(db: Database, *, principal: Principal, member_id: str) -> dict[str, Any]:
    """One member of the caller's org, or 404."""
    async with db.transaction(org_id=principal.org_id) as conn:
        return member_view(await _load(conn, member_id))


async def list_members(db: Database, *, principal: Principal, role: str | None,
                       page: PageParams) -> tuple[list[dict[str, Any]], int]:
    """A page of the org's members, newest first."""
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repository.list_members(conn, org_id=principal.org_id, role=role, limit=page.limit,
                                                    offset=page.offset)
    return [member_view(r) for r in rows], total


async def update_member(db: Database, *, principal: Principal, member_id: str, body: MemberPatch,
                        traceparent: str | None = None) -> dict[str, Any]:
    """Change some fields of a member (announced as member.updated)."""
    async with db.transaction(org_id=principal.org_id) as conn:
        before = await _load(conn, member_id, for_update=True)
        fields = {k: before[k] for k in ("name", "email", "phone", "role")}
        fields.update({k: getattr(body, k) for k in body.model_fields_set})
        if fields["email"] != before["email"]:
            await _email_free(conn, fields["email"], except_id=member_id)
        if fields == {k: before[k] for k in fields}:
            return member_view(before)
        row = await repository.update_member(conn, member_id, fields)
        await outbox.append(conn, source=SOURCE, data=MemberUpdated(**_snapshot(row)), subject=member_id,
                            org_id=principal.org_id, traceparent=traceparent)
    return member_view(row)


async def delete_member(db: Database, *, principal: Principal, member_id: str, traceparent: str | None = None) -> None:
    """Remove a member who holds no live API key (409 otherwise: revoke the keys first)."""
    async with db.transaction(org_id=principal.org_id) as conn:
        await _load(conn, member_id, for_update=True)
        keys = await repository.live_keys_of_member(conn, member_id)
        if keys:
            raise Problem(409, f"member {member_id} still holds {keys} live API key(s); revoke them first",
                          slug="member-has-keys", keys=keys)
        await repository.detach_revoked_keys(conn, member_id)
        await repository.delete_member(conn, member_id)
        await outbox.append(conn, source=SOURCE, data=MemberDeleted(member_id=member_id, org_id=principal.org_id),
                            subject=member_id, org_id=principal.org_id, traceparent=traceparent)


async def check_key_member(conn: asyncpg.Connection, member_id: str | None) -> None:
    """422 unless the member a new key names is in the caller's org."""
    if member_id is not None and await repository.get_member(conn, member_id) is None:
        raise Problem(422, f"member {member_id} does not exist in this org", slug="unknown-member",
                      errors=[{"field": "member_id", "message": "unknown member", "code": "unknown-member"}])
