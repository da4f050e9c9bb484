"""Lease events produced to the real property.events topic, and request helpers for billing tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaProducer
from hearth_contracts.common import Address, Money
from hearth_contracts.envelope import EventData, to_cloudevent_bytes
from hearth_contracts.property import BuildingCreated, LeaseCreated, LeaseTerminated
from hearth_kit.ids import new_id
from hearth_kit.messaging import wait_for
from hearth_kit.testing import ServiceHarness


@asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def publish(p: AIOKafkaProducer, data: EventData, *, subject: str, org_id: str, times: int = 1) -> str:
    """Produce one CloudEvent (`times` copies of the same event id: a redelivery) to property.events."""
    event_id = new_id("evt")
    raw = to_cloudevent_bytes(event_id=event_id, source="hearth/property", data=data, subject=subject,
                              org_id=org_id, sequence=1)
    for _ in range(times):
        await p.send_and_wait("property.events", raw, key=subject.encode())
    return event_id


def lease_event(org_id: str, *, start: date, end: date | None = None, rent: str = "1000.00", deposit: str = "0",
                currency: str = "USD", due_day: int = 1, status: str = "active", building_id: str | None = None,
                resident_ids: list[str] | None = None, lease_id: str | None = None,
                terminated_on: date | None = None, cls: type[LeaseCreated] = LeaseCreated) -> LeaseCreated:
    now = datetime.now(UTC)
    return cls(
        lease_id=lease_id or new_id("lease"), org_id=org_id, unit_id=new_id("unit"),
        building_id=building_id or new_id("bld"), resident_ids=resident_ids or [new_id("res")],
        type="at_will" if end is None else "fixed", start_date=start, end_date=end,
        rent=Money(amount=Decimal(rent), currency=currency), deposit=Money(amount=Decimal(deposit), currency=currency),
        payment_due_day=due_day, status=status, terminated_on=terminated_on,
        created_at=now, updated_at=now)


def terminated(lease: LeaseCreated, on: date) -> LeaseTerminated:
    return LeaseTerminated(**{**lease.model_dump(), "terminated_on": on})


def building_event(org_id: str, timezone: str, building_id: str | None = None) -> BuildingCreated:
    now = datetime.now(UTC)
    return BuildingCreated(building_id=building_id or new_id("bld"), org_id=org_id, name="Tower", type="residential",
                           address=Address(line1="1 Main St", city="Berlin", country="DE"), timezone=timezone,
                           status="active", created_at=now, updated_at=now)


async def handled(h: ServiceHarness, event_id: str) -> None:
    """Wait until billing's consumer has handled this event (its inbox row committed)."""

    async def seen() -> bool:
        async with h.raw() as conn:
            return bool(await conn.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", event_id))

    assert await wait_for(seen, timeout=30), f"event {event_id} not handled"


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()["data"]


async def charges_of(h: ServiceHarness, org: str, lease_id: str, **params: Any) -> list[dict[str, Any]]:
    resp = await h.client.get("/v1/charges", params={"lease_id": lease_id, "limit": 100, **params},
                              headers=h.headers(org_id=org))
    return await ok(resp)  # type: ignore[no-any-return]


async def wait_for_account(h: ServiceHarness, org: str, lease_id: str, *, charges: int = 0) -> list[dict[str, Any]]:
    """Wait until billing projected the lease (and posted at least `charges` charges)."""
    found: list[dict[str, Any]] = []

    async def ready() -> bool:
        nonlocal found
        resp = await h.client.get(f"/v1/leases/{lease_id}/ledger", headers=h.headers(org_id=org))
        if resp.status_code != 200:
            return False
        found = await charges_of(h, org, lease_id)
        return len(found) >= charges

    assert await wait_for(ready, timeout=30), f"lease {lease_id} not projected with {charges} charges"
    return found


async def ledger(h: ServiceHarness, org: str, lease_id: str) -> dict[str, Any]:
    resp = await h.client.get(f"/v1/leases/{lease_id}/ledger", params={"limit": 100}, headers=h.headers(org_id=org))
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def pay(h: ServiceHarness, org: str, lease_id: str, amount: str, *, expect: int = 201,
              **over: Any) -> dict[str, Any]:
    body = {"lease_id": lease_id, "amount": {"amount": amount, "currency": "USD"}, "method": "bank_transfer", **over}
    resp = await h.client.post("/v1/payments", json=body, headers=h.headers(org_id=org))
    assert resp.status_code == expect, resp.text
    return resp.json()  # type: ignore[no-any-return]
