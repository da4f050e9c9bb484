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


async def publish(producer: Any, data: Any, *, subject: str, org_id: str) -> str:
    """Put one event on its real topic, as its owning service would; returns the event id."""
    from hearth_contracts.envelope import to_cloudevent_bytes
    from hearth_kit.ids import new_id

    event_id = new_id("evt")
    payload = to_cloudevent_bytes(event_id=event_id, source="hearth/test", data=data, subject=subject,
                                  org_id=org_id, sequence=1)
    await producer.send_and_wait(data.topic, payload, key=subject.encode())
    return event_id


async def republish(producer: Any, data: Any, *, subject: str, org_id: str, event_id: str) -> None:
    """The same event again (a redelivery)."""
    from hearth_contracts.envelope import to_cloudevent_bytes

    payload = to_cloudevent_bytes(event_id=event_id, source="hearth/test", data=data, subject=subject,
                                  org_id=org_id, sequence=1)
    await producer.send_and_wait(data.topic, payload, key=subject.encode())


async def until(check: Any, *, timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Call `check` until it returns something truthy; fail with its last value."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last value: {last!r}")


async def place_building(h: Any, producer: Any, org: str, *, timezone: str = "America/New_York",
                         units: int = 1) -> dict[str, Any]:
    """Project a building and its units (property.events), then wait until the service knows them."""
    from datetime import UTC, datetime

    from hearth_contracts.property import BuildingCreated, UnitCreated
    from hearth_kit.ids import new_id

    now = datetime.now(UTC)
    building_id = new_id("bld")
    await publish(producer, BuildingCreated(
        building_id=building_id, org_id=org, name="Tower", type="residential",
        address={"line1": "1 Main St", "city": "Boston", "country": "US"}, timezone=timezone, status="active",
        created_at=now, updated_at=now), subject=building_id, org_id=org)
    unit_ids = []
    for n in range(units):
        unit_id = new_id("unit")
        unit_ids.append(unit_id)
        await publish(producer, UnitCreated(
            unit_id=unit_id, org_id=org, building_id=building_id, name=f"Unit {n + 1}", status="available",
            price={"amount": "1000.00", "currency": "USD"}, visibility="public", created_at=now, updated_at=now),
            subject=unit_id, org_id=org)

    async def known() -> bool:
        async with h.raw(org_id=org) as conn:
            n = await conn.fetchval("SELECT count(*) FROM units WHERE id = ANY($1::text[])", unit_ids)
            b = await conn.fetchval("SELECT count(*) FROM buildings WHERE id = $1", building_id)
        return bool(n == len(unit_ids) and b == 1)

    await until(known, timeout=30)
    return {"building_id": building_id, "unit_ids": unit_ids}


async def connect_vendor(h: Any, sim: Any, sim_url: str, org: str, *, units: int = 1, locks_per_unit: int = 1,
                         common_doors: int = 1, place: dict[str, Any] | None = None,
                         **settings: Any) -> dict[str, Any]:
    """A simulator account connected as the org's vendor, its listings mapped to the placed building/units."""
    acct = await new_account(sim, units=units, locks_per_unit=locks_per_unit, common_doors=common_doors, **settings)
    headers = h.headers(org_id=org)
    resp = await h.client.post("/v1/lock-vendors", json={"name": "Aurmur", "base_url": sim_url,
                                                         "permanent_token": acct["permanent_token"]}, headers=headers)
    assert resp.status_code == 201, resp.text
    vendor = resp.json()["data"]
    listings = (await h.client.get(f"/v1/lock-vendors/{vendor['id']}/listings", headers=headers)).json()["data"]
    if place is not None:
        for li in listings:
            if li["name"].startswith("Unit "):
                n = int(li["name"].split()[1]) - 1
                body = {"building_id": place["building_id"], "unit_id": place["unit_ids"][n]}
            else:
                body = {"building_id": place["building_id"], "unit_id": None}
            resp = await h.client.put(f"/v1/lock-vendors/{vendor['id']}/listings/{li['id']}", json=body,
                                      headers=headers)
            assert resp.status_code == 200, resp.text
    locks = (await h.client.get("/v1/locks?limit=100", headers=headers)).json()["data"]
    by_vendor_id = {lk["vendor_lock_id"]: lk for lk in locks}
    return {"account": acct, "vendor": vendor, "listings": listings, "locks": locks, "by_vendor_id": by_vendor_id}
