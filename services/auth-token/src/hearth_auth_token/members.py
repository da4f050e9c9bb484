"""Member use cases (the org's people): each runs in the kit's `Tx`, with its outbox event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from hearth_contracts.auth import MemberCreated, MemberDeleted, MemberUpdated
from hearth_kit.errors import Conflict, InvalidInput, NotFound
from hearth_kit.ids import looks_like, new_id
from hearth_kit.pagination import PageParams
from hearth_kit.tx import Tx

from hearth_auth_token import repository
from hearth_auth_token.domain import MemberIn, MemberPatch


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


async def _email_free(tx: Tx, email: str | None, except_id: str | None = None) -> None:
    if email is not None and await repository.email_taken(tx.conn, email=email, except_id=except_id):
        raise Conflict(f"a member with e-mail {email} already exists in this org", code="member-email-taken")


async def _load(tx: Tx, member_id: str, *, for_update: bool = False) -> asyncpg.Record:
    row = await repository.get_member(tx.conn, member_id, for_update=for_update) if looks_like("mem", member_id) \
        else None
    if row is None:
        raise NotFound.of("member", member_id[:100])
    return row


async def create_member(tx: Tx, body: MemberIn) -> dict[str, Any]:
    """Add a person to the caller's org."""
    if await repository.get_org(tx.conn, tx.org_id) is None:
        raise Conflict(f"org {tx.org_id} is not registered with auth-token", code="org-not-registered")
    await _email_free(tx, body.email)
    row = await repository.insert_member(tx.conn, {"id": new_id("mem"), "org_id": tx.org_id, **body.model_dump()})
    await tx.emit(MemberCreated(**_snapshot(row)), subject=row["id"])
    return member_view(row)


async def get_member(tx: Tx, member_id: str) -> dict[str, Any]:
    """One member of the caller's org, or 404."""
    return member_view(await _load(tx, member_id))


async def list_members(tx: Tx, *, role: str | None, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    """A page of the org's members, newest first."""
    rows, total = await repository.list_members(tx.conn, org_id=tx.org_id, role=role, limit=page.limit,
                                                offset=page.offset)
    return [member_view(r) for r in rows], total


async def update_member(tx: Tx, member_id: str, body: MemberPatch) -> dict[str, Any]:
    """Change some fields of a member (announced as member.updated; a no-op announces nothing)."""
    before = await _load(tx, member_id, for_update=True)
    fields = {k: before[k] for k in ("name", "email", "phone", "role")}
    fields.update({k: getattr(body, k) for k in body.model_fields_set})
    if fields["email"] != before["email"]:
        await _email_free(tx, fields["email"], except_id=member_id)
    if fields == {k: before[k] for k in fields}:
        return member_view(before)
    row = await repository.update_member(tx.conn, member_id, fields)
    await tx.emit(MemberUpdated(**_snapshot(row)), subject=member_id)
    return member_view(row)


async def delete_member(tx: Tx, member_id: str) -> None:
    """Remove a member who holds no live API key (409 otherwise: revoke the keys first)."""
    await _load(tx, member_id, for_update=True)
    keys = await repository.live_keys_of_member(tx.conn, member_id)
    if keys:
        raise Conflict(f"member {member_id} still holds {keys} live API key(s); revoke them first",
                       code="member-has-keys", keys=keys)
    await repository.detach_revoked_keys(tx.conn, member_id)
    await repository.delete_member(tx.conn, member_id)
    await tx.emit(MemberDeleted(member_id=member_id, org_id=tx.org_id), subject=member_id)


async def check_key_member(conn: asyncpg.Connection, member_id: str | None) -> None:
    """422 unless the member a new key names is in the caller's org."""
    if member_id is not None and await repository.get_member(conn, member_id) is None:
        raise InvalidInput(f"member {member_id} does not exist in this org", code="unknown-member",
                           errors=[{"field": "member_id", "message": "unknown member", "code": "unknown-member"}])
