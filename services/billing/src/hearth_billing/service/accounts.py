"""Finding a lease account for a request: projected from property.events, so briefly waited for."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import asyncpg
from hearth_kit.db import Database
from hearth_kit.errors import InvalidInput

from hearth_billing import repository as repo
from hearth_billing.domain import local_today


class UnknownLease(InvalidInput):
    """No lease account with this id in the org (not yet projected, another org's, or none at all)."""

    code = "unknown-lease"

    def __init__(self, lease_id: str) -> None:
        super().__init__(f"lease {lease_id} is not known to billing",
                         errors=[{"field": "lease_id", "message": f"no lease {lease_id} in this org"}])
        self.lease_id = lease_id


async def wait_for_lease(db: Database, *, org_id: str, lease_id: str, seconds: float) -> bool:
    """A lease signed a moment ago may not be projected yet: wait up to `seconds` (no transaction held
    between looks); True once it is there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        async with db.transaction(org_id=org_id) as conn:
            if await repo.get_account(conn, lease_id) is not None:
                return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.05)


async def locked_account(conn: asyncpg.Connection, lease_id: str) -> asyncpg.Record:
    """The lease account, row-locked (one writer of a lease's money at a time), or UnknownLease."""
    acc = await repo.get_account(conn, lease_id, for_update=True)
    if acc is None:
        raise UnknownLease(lease_id)
    return acc


def today_at(acc: asyncpg.Record) -> date:
    """Today in the lease's building."""
    return local_today(acc["timezone"], now=datetime.now(UTC))


def same_currency(acc: asyncpg.Record, currency: str, *, field: str = "amount.currency") -> None:
    """One currency per lease: anything else is refused."""
    if currency != acc["currency"]:
        raise InvalidInput(f"lease {acc['id']} is billed in {acc['currency']}, not {currency}",
                           code="currency-mismatch", errors=[{"field": field, "message": f"must be {acc['currency']}"}])
