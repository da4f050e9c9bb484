"""Agent use cases."""

from __future__ import annotations

from typing import Any

from hearth_contracts.property import AgentCreated, AgentUpdated
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.resources import Resource
from hearth_kit.tx import Tx

from hearth_property.domain import AgentIn
from hearth_property.repository import agents as repo
from hearth_property.service.views import agent_snapshot, agent_view

AGENT = Resource(
    kind="agent", path="/v1/agents/{id}", view=agent_view,
    load=lambda tx, ident, lock: repo.get_agent(tx.conn, ident, for_update=lock),
    fields=("name", "email", "phone"),
    save=lambda tx, ident, fields: repo.update_agent(tx.conn, ident, fields),
    updated=lambda row: AgentUpdated(**agent_snapshot(row)),
)


async def create_agent(tx: Tx, body: AgentIn) -> dict[str, Any]:
    """Create an agent and announce it."""
    row = await repo.insert_agent(tx.conn, {"id": new_id("agt"), "org_id": tx.org_id, **body.model_dump()})
    await tx.emit(AgentCreated(**agent_snapshot(row)), subject=row["id"])
    return agent_view(row)


async def list_agents(tx: Tx, *, page: PageParams, q: str | None) -> tuple[list[dict[str, Any]], int]:
    """A page of agents."""
    rows, total = await repo.list_agents(tx.conn, org_id=tx.org_id, q=q, limit=page.limit, offset=page.offset)
    return [agent_view(r) for r in rows], total
