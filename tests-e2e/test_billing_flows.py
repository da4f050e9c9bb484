"""Billing through the gateway: seed 002's payment flow, the resident's payment records in property,
ledgers and balances on the nested lease/resident paths, bad input and isolation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from conftest import bearer, new_org

pytestmark = pytest.mark.e2e


async def eventually(check: Any, *, timeout: float = 30) -> Any:
    """Poll `check()` until it returns something truthy (events cross Kafka between services)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


def skip_unless_routed(resp: httpx.Response, path: str) -> None:
    """The nested billing paths need the gateway's `*` wildcard routes; without them property answers its own
    404 for an unknown path (detail "Not Found"). Only that case skips; anything else must pass."""
    if resp.status_code == 404 and resp.json().get("detail") == "Not Found":
        pytest.skip(f"gateway does not route {path} to billing yet (wildcard routes not merged)")


async def leased(gw: httpx.AsyncClient, demo: dict[str, Any]) -> dict[str, Any]:
    org = await new_org(gw, demo)
    h = bearer(org["key"])
    building = (await gw.post("/v1/buildings", headers=h, json={
        "name": "Marina Tower A", "type": "residential", "timezone": "Asia/Dubai",
        "address": {"line1": "Dubai Marina", "city": "Dubai", "country": "AE"}})).json()["data"]
    unit = (await gw.post("/v1/units", headers=h, json={
        "building_id": building["id"], "name": "A-101", "price": {"amount": "8500.00", "currency": "AED"}})).json()
    resident = (await gw.post("/v1/residents", headers=h, json={"name": "Layla Hassan",
                                                                 "email": "layla@example.com"})).json()["data"]
    today = datetime.now(UTC).date()
    resp = await gw.post("/v1/leases", headers=h, json={
        "unit_id": unit["data"]["id"], "resident_ids": [resident["id"]], "start_date": today.replace(day=1).isoformat(),
        "type": "at_will", "rent": {"amount": "8500.00", "currency": "AED"},
        "deposit": {"amount": "8500.00", "currency": "AED"}, "payment_due_day": 1})
    assert resp.status_code == 201, resp.text
    lease = resp.json()["data"]

    async def charged() -> list[dict[str, Any]]:
        r = await gw.get("/v1/charges", headers=h, params={"lease_id": lease["id"]})
        return r.json()["data"] if r.status_code == 200 and r.json()["meta"]["total"] >= 2 else []

    charges = await eventually(charged)
    assert sorted(c["kind"] for c in charges) == ["deposit", "rent"], charges
    return {"org": org, "h": h, "building": building, "resident": resident, "lease": lease, "charges": charges}


async def test_seed_002_payment_flow_reaches_the_resident(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    p = await leased(gw, demo)
    h, lease, resident = p["h"], p["lease"], p["resident"]
    body = {"lease_id": lease["id"], "amount": {"amount": "10000.00", "currency": "AED"}, "method": "cheque",
            "reference": "CHQ-1001", "received_at": datetime.now(UTC).isoformat()}
    first = await gw.post("/v1/payments", headers={**h, "Idempotency-Key": "rent-1"}, json=body)
    again = await gw.post("/v1/payments", headers={**h, "Idempotency-Key": "rent-1"}, json=body)
    assert first.status_code == again.status_code == 201, first.text
    payment = first.json()["data"]
    assert again.json()["data"]["id"] == payment["id"]
    assert payment["status"] == "completed" and payment["resident_id"] == resident["id"]
    assert sum(float(a["amount"]["amount"]) for a in payment["allocations"]) == 10000.0
    today = datetime.now(UTC).date().isoformat()
    listed = (await gw.get("/v1/payments", headers=h, params={
        "property_id": p["building"]["id"], "status": "completed", "from": today, "to": today,
        "method": "cheque"})).json()
    assert [x["id"] for x in listed["data"]] == [payment["id"]] and listed["meta"]["total"] == 1

    async def recorded() -> list[dict[str, Any]]:
        detail = (await gw.get(f"/v1/residents/{resident['id']}", headers=h)).json()["data"]
        return [x for x in detail["payments"] if x["id"] == payment["id"]]

    [record] = await eventually(recorded)
    assert record["amount"] == {"amount": "10000.00", "currency": "AED"} and record["reference"] == "CHQ-1001"

    reversed_ = await gw.post(f"/v1/payments/{payment['id']}/reverse", headers=h,
                              json={"reason": "NSF", "nsf_fee": {"amount": "150.00", "currency": "AED"}})
    assert reversed_.status_code == 200, reversed_.text

    async def shows_reversal() -> bool:
        detail = (await gw.get(f"/v1/residents/{resident['id']}", headers=h)).json()["data"]
        return any(x["id"] == payment["id"] and x.get("status") == "reversed" for x in detail["payments"])

    assert await eventually(shows_reversal)
    balances = (await gw.get("/v1/balances", headers=h, params={"building_id": p["building"]["id"]})).json()["data"]
    assert balances["balances"][0]["balance"] == "17150.00"


async def test_ledger_and_resident_balance_on_the_nested_paths(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    p = await leased(gw, demo)
    h, lease, resident = p["h"], p["lease"], p["resident"]
    resp = await gw.post("/v1/payments", headers=h, json={
        "resident_id": resident["id"], "amount": {"amount": "9000.00", "currency": "AED"}, "method": "bank_transfer"})
    assert resp.status_code == 201, resp.text
    ledger = await gw.get(f"/v1/leases/{lease['id']}/ledger", headers=h)
    skip_unless_routed(ledger, "/v1/leases/*/ledger")
    assert ledger.status_code == 200, ledger.text
    book = ledger.json()
    assert [e["type"] for e in book["data"]] == ["charge", "charge", "payment"]
    assert book["meta"]["balance"] == {"amount": "8000.00", "currency": "AED"}
    assert book["data"][-1]["balance"] == book["meta"]["balance"]
    balance = await gw.get(f"/v1/residents/{resident['id']}/balance", headers=h)
    skip_unless_routed(balance, "/v1/residents/*/balance")
    assert balance.status_code == 200, balance.text
    assert balance.json()["data"]["balances"][0]["balance"] == "8000.00"
    # the rest of /v1/leases and /v1/residents still belongs to property
    assert (await gw.get(f"/v1/leases/{lease['id']}", headers=h)).json()["data"]["id"] == lease["id"]
    other = bearer((await new_org(gw, demo))["key"])
    assert (await gw.get(f"/v1/leases/{lease['id']}/ledger", headers=other)).status_code == 404
    assert (await gw.get(f"/v1/residents/{resident['id']}/balance", headers=other)).status_code == 404


async def test_bad_money_and_other_orgs_are_refused(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    p = await leased(gw, demo)
    h, lease = p["h"], p["lease"]
    for amount in ({"amount": 10.5, "currency": "AED"}, {"amount": "-1.00", "currency": "AED"},
                   {"amount": "1.001", "currency": "AED"}, {"amount": "10.00", "currency": "USD"}):
        resp = await gw.post("/v1/payments", headers=h, json={"lease_id": lease["id"], "amount": amount,
                                                              "method": "cash"})
        assert resp.status_code == 422, (amount, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    other = bearer((await new_org(gw, demo))["key"])
    resp = await gw.post("/v1/payments", headers=other, json={
        "lease_id": lease["id"], "amount": {"amount": "10.00", "currency": "AED"}, "method": "cash"})
    assert resp.status_code == 422
    charge = p["charges"][0]["id"]
    assert (await gw.get(f"/v1/charges/{charge}", headers=other)).status_code == 404
    assert (await gw.get("/v1/payments", headers=h)).json()["meta"]["total"] == 0
