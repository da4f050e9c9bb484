"""Agent use cases."""

from __future__ import annotations

from typing import Any

import asyncpg
from hearth_contracts.property import AgentCreated, AgentUpdated
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import not_found

from hearth_property.domain import AgentIn, AgentPatch
from hearth_property.repository import agents as repo
from hearth_property.service.views import agent_snapshot, agent_view

SOURCE = "hearth/property"


async def create_agent(conn: asyncpg.Connection, *, principal: Principal, body: AgentIn,
                       traceparent: str | None = None) -> dict[str, Any]:
    """Create an agent and announce it."""
    row = await repo.insert_agent(conn, {"id": new_id("agt"), "org_id": principal.org_id, **body.model_dump()})
    await outbox.append(conn, source=SOURCE, data=AgentCreated(**agent_snapshot(row)), subject=row["id"],
                        org_id=principal.org_id, traceparent=traceparent)
    return agent_view(row)


async def get_agent(db: Database, *, principal: Principal, agent_id: str) -> dict[str, Any]:
    """One agent, or 404."""
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_agent(conn, agent_id)
    if row is None:
        raise not_found("agent", agent_id)
    return agent_view(row)


async def list_agents(db: Database, *, principal: Principal, page: PageParams,
                      q: str | None) -> tuple[list[dict[str, Any]], int]:
    """A page of agents."""
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repo.list_agents(conn, org_id=principal.org_id, q=q, limit=page.limit,
                                             offset=page.offset)
    return [agent_view(r) for r in rows], total


async def update_agent(db: Database, *, principal: Principal, agent_id: str, body: AgentIn | AgentPatch,
                       traceparent: str | None = None) -> dict[str, Any]:
    """PUT or PATCH an agent."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        before = await repo.get_agent(conn, agent_id, for_update=True)
        if before is None:
            raise not_found("agent", agent_id)
        fields = {k: before[k] for k in ("name", "email", "phone")}
        sent = body.model_fields_set if isinstance(body, AgentPatch) else set(fields)
        fields.update({k: getattr(body, k) for k in sent})
        after = await repo.update_agent(conn, agent_id, fields)
        if any(after[k] != before[k] for k in fields):
            await outbox.append(conn, source=SOURCE, data=AgentUpdated(**agent_snapshot(after)), subject=agent_id,
                                org_id=principal.org_id, traceparent=traceparent)
    return agent_view(after)
