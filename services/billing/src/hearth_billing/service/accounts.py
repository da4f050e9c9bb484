"""Finding a lease account for a request: projected from property.events, so briefly waited for."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import asyncpg
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.problems import Problem

from hearth_billing import repository as repo
from hearth_billing.domain import local_today


async def wait_for_lease(db: Database, *, principal: Principal, lease_id: str | None, seconds: float) -> None:
    """A lease signed a moment ago may not be projected yet: wait up to `seconds` (no transaction held)."""
    if lease_id is None:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        async with db.transaction(org_id=principal.org_id) as conn:
            if await repo.get_account(conn, lease_id) is not None:
                return
        if loop.time() >= deadline:
            return
        await asyncio.sleep(0.05)


def unknown_lease(lease_id: str) -> Problem:
    return Problem(422, f"lease {lease_id} is not known to billing", slug="unknown-lease",
                   errors=[{"field": "lease_id", "message": f"no lease {lease_id} in this org"}])


async def locked_account(conn: asyncpg.Connection, lease_id: str) -> asyncpg.Record:
    """The lease account, row-locked (one writer of a lease's money at a time), or a 422."""
    acc = await repo.get_account(conn, lease_id, for_update=True)
    if acc is None:
        raise unknown_lease(lease_id)
    return acc


def today_at(acc: asyncpg.Record) -> date:
    """Today in the lease's building."""
    return local_today(acc["timezone"], now=datetime.now(UTC))


def same_currency(acc: asyncpg.Record, currency: str) -> None:
    """One currency per lease: anything else is refused."""
    if currency != acc["currency"]:
        raise Problem(422, f"lease {acc['id']} is billed in {acc['currency']}, not {currency}",
                      slug="currency-mismatch", errors=[{"field": "amount.currency",
                                                         "message": f"must be {acc['currency']}"}])
