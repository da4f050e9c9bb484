"""Another org's ids answer 404 (or 422 for a body reference) on every route, and never its data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from billing_helpers import lease_event, ok, pay, producer, publish, wait_for_account
from hearth_billing.domain import month_start
from hearth_kit.ids import new_id
from hearth_kit.testing import Infra, ServiceHarness

pytestmark = pytest.mark.integration


async def test_every_route_is_isolated_by_org(bill: ServiceHarness, infra: Infra, org_id: str) -> None:
    resident = new_id("res")
    lease = lease_event(org_id, start=month_start(datetime.now(UTC).date()), resident_ids=[resident])
    async with producer(infra.kafka_bootstrap) as p:
        await publish(p, lease, subject=lease.lease_id, org_id=org_id)
    [charge] = await wait_for_account(bill, org_id, lease.lease_id, charges=1)
    payment = (await pay(bill, org_id, lease.lease_id, "10.00"))["data"]
    mine = bill.headers(org_id=org_id)
    await ok(await bill.client.put("/v1/billing-settings", json={"grace_days": 9}, headers=mine))

    other = bill.headers(org_id=new_id("org"))
    for method, path in [
        ("GET", f"/v1/charges/{charge['id']}"),
        ("POST", f"/v1/charges/{charge['id']}/void"),
        ("GET", f"/v1/payments/{payment['id']}"),
        ("POST", f"/v1/payments/{payment['id']}/reverse"),
        ("POST", f"/v1/payments/{payment['id']}/complete"),
        ("POST", f"/v1/payments/{payment['id']}/fail"),
        ("GET", f"/v1/leases/{lease.lease_id}/ledger"),
        ("GET", f"/v1/residents/{resident}/balance"),
    ]:
        resp = await bill.client.request(method, path, headers=other)
        assert resp.status_code == 404, (method, path, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    for path, body in [
        ("/v1/charges", {"lease_id": lease.lease_id, "kind": "other", "amount": {"amount": "5.00", "currency": "USD"}}),
        ("/v1/payments", {"lease_id": lease.lease_id, "amount": {"amount": "5.00", "currency": "USD"},
                          "method": "cash"}),
        ("/v1/payments", {"resident_id": resident, "amount": {"amount": "5.00", "currency": "USD"},
                          "method": "cash"}),
    ]:
        resp = await bill.client.post(path, json=body, headers=other)
        assert resp.status_code == 422, (path, resp.text)
    for path, params in [("/v1/charges", {}), ("/v1/charges", {"lease_id": lease.lease_id}), ("/v1/payments", {}),
                         ("/v1/payments", {"resident_id": resident})]:
        resp = await bill.client.get(path, params=params, headers=other)
        assert resp.json()["meta"]["total"] == 0 and resp.json()["data"] == [], path
    assert (await ok(await bill.client.get("/v1/balances", headers=other)))["balances"] == []
    assert (await ok(await bill.client.get("/v1/billing-settings", headers=other)))["grace_days"] == 5
    # and the owner still sees everything unchanged
    assert (await ok(await bill.client.get(f"/v1/charges/{charge['id']}", headers=mine)))["status"] == "partially_paid"
    assert (await ok(await bill.client.get(f"/v1/payments/{payment['id']}", headers=mine)))["status"] == "completed"
    assert (await ok(await bill.client.get("/v1/billing-settings", headers=mine)))["grace_days"] == 9


async def test_read_only_partner_cannot_write(bill: ServiceHarness, org_id: str) -> None:
    partner = bill.headers(org_id=org_id, role="partner")
    resp = await bill.client.put("/v1/billing-settings", json={"grace_days": 1}, headers=partner)
    assert resp.status_code == 403
    resp = await bill.client.post("/v1/payments", json={"lease_id": new_id("lease"), "method": "cash",
                                                        "amount": {"amount": "5.00", "currency": "USD"}},
                                  headers=partner)
    assert resp.status_code == 403
    assert (await bill.client.get("/v1/balances", headers=partner)).status_code == 200
