"""Build simulator accounts and drivers for tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from hearth_access.vendor.driver import AurmurDriver, MemoryTokenStore, RetryPolicy

FAST = RetryPolicy(attempts=4, backoff_seconds=0.01, max_backoff_seconds=0.05, max_retry_after_seconds=0.05,
                   timeout_seconds=1.0, refresh_margin_seconds=1.0)


async def new_account(sim: httpx.AsyncClient, *, units: int = 1, locks_per_unit: int = 1, common_doors: int = 1,
                      timezone: str = "US/Eastern", **settings: Any) -> dict[str, Any]:
    """An account with one listing per unit (its locks) and one for the building's common doors."""
    account_id = uuid.uuid4().hex
    locks: list[dict[str, Any]] = []
    listings: list[dict[str, Any]] = []
    for u in range(units):
        ids = [str(uuid.uuid4()) for _ in range(locks_per_unit)]
        locks += [{"lock_id": i, "name": f"Unit {u + 1} door {n + 1}"} for n, i in enumerate(ids)]
        listings.append({"listing_id": f"L-unit-{u + 1}-{account_id[:6]}", "name": f"Unit {u + 1}",
                         "code_length": 4, "timezone": timezone, "linked_locks": ids})
    common = [str(uuid.uuid4()) for _ in range(common_doors)]
    locks += [{"lock_id": i, "name": f"Main entrance {n + 1}"} for n, i in enumerate(common)]
    if common:
        listings.append({"listing_id": f"L-common-{account_id[:6]}", "name": "Common doors", "code_length": 4,
                         "timezone": timezone, "linked_locks": common})
    resp = await sim.put(f"/_sim/accounts/{account_id}", json={"locks": locks, "listings": listings, **settings})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def driver(base_url: str, account: dict[str, Any], client: httpx.AsyncClient,
           policy: RetryPolicy = FAST) -> AurmurDriver:
    return AurmurDriver(base_url=base_url, permanent_token=account["permanent_token"], client=client,
                        store=MemoryTokenStore(), policy=policy)
