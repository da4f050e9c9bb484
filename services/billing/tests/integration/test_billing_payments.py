"""Payments: oldest-first allocation, credit, Idempotency-Key, pending cheques, reversal with NSF fee, voids."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from billing_helpers import charges_of, lease_event, ledger, ok, pay, producer, publish, wait_for_account
from hearth_billing.domain import month_start, prev_month
from hearth_kit.testing import EventReader, Infra, ServiceHarness

pytestmark = pytest.mark.integration

THIS = month_start(datetime.now(UTC).date())


async def three_months(bill: ServiceHarness, infra: Infra, org_id: str, **over: Any) -> tuple[str, list[str]]:
    """A lease with three whole months of rent posted (1000.00 each); returns it and its charges oldest first."""
    lease = lease_event(org_id, start=prev_month(prev_month(THIS)), **over)
    async with producer(infra.kafka_bootstrap) as p:
        await publish(p, lease, subject=lease.lease_id, org_id=org_id)
    found = await wait_for_account(bill, org_id, lease.lease_id, charges=3)
    return lease.lease_id, [c["id"] for c in sorted(found, key=lambda c: c["due_date"])]


async def statuses(bill: ServiceHarness, org: str, lease_id: str) -> dict[str, tuple[str, str]]:
    return {c["id"]: (c["status"], c["amount_paid"]["amount"]) for c in await charges_of(bill, org, lease_id)}


async def balance(bill: ServiceHarness, org: str, lease_id: str) -> Decimal:
    return Decimal((await ledger(bill, org, lease_id))["meta"]["balance"]["amount"])


async def test_payments_pay_oldest_first_and_keep_the_rest_as_credit(bill: ServiceHarness, infra: Infra,
                                                                     org_id: str) -> None:
    lease_id, (jan, feb, mar) = await three_months(bill, infra, org_id)
    async with EventReader(infra.kafka_bootstrap, "billing.events") as reader:
        first = (await pay(bill, org_id, lease_id, "1500.00", method="cash", reference="R-1"))["data"]
        assert first["status"] == "completed" and first["method"] == "cash"
        assert [(a["charge_id"], a["amount"]["amount"]) for a in first["allocations"]] == [(jan, "1000.00"),
                                                                                            (feb, "500.00")]
        assert await statuses(bill, org_id, lease_id) == {jan: ("paid", "1000.00"), feb: ("partially_paid", "500.00"),
                                                          mar: ("open", "0.00")}
        second = (await pay(bill, org_id, lease_id, "2000.00"))["data"]
        events = await reader.wait_for(lambda k, e: e.type == "hearth.payment.recorded.v1"
                                       and e.data["lease_id"] == lease_id, count=2)
    assert events[0][0] == first["id"].encode()
    assert events[0][1].data["amount"] == {"amount": "1500.00", "currency": "USD"}
    assert events[0][1].data["resident_id"] == first["resident_id"]
    assert [a["amount"]["amount"] for a in second["allocations"]] == ["500.00", "1000.00"]
    assert await balance(bill, org_id, lease_id) == Decimal("-500.00")  # in credit
    resp = await bill.client.get("/v1/balances", headers=bill.headers(org_id=org_id))
    assert (await ok(resp))["balances"][0]["credit"] == "500.00"
    # the credit pays a new charge at once
    resp = await bill.client.post("/v1/charges", json={"lease_id": lease_id, "kind": "utility",
                                                       "amount": {"amount": "120.00", "currency": "USD"}},
                                  headers=bill.headers(org_id=org_id))
    assert (await ok(resp, 201))["status"] == "paid"
    assert await balance(bill, org_id, lease_id) == Decimal("-380.00")


async def test_a_back_dated_payment_re_flows_the_money_oldest_first(bill: ServiceHarness, infra: Infra,
                                                                    org_id: str) -> None:
    """A payment received now only adds to what was paid; one received before others re-flows them."""
    lease_id, (jan, feb, mar) = await three_months(bill, infra, org_id)
    h = bill.headers(org_id=org_id)
    now = (await pay(bill, org_id, lease_id, "600.00"))["data"]
    assert [(a["charge_id"], a["amount"]["amount"]) for a in now["allocations"]] == [(jan, "600.00")]
    earlier = (await pay(bill, org_id, lease_id, "1000.00", received_at="2020-01-15T10:00:00Z"))["data"]
    assert [(a["charge_id"], a["amount"]["amount"]) for a in earlier["allocations"]] == [(jan, "1000.00")]
    moved = await ok(await bill.client.get(f"/v1/payments/{now['id']}", headers=h))
    assert [(a["charge_id"], a["amount"]["amount"]) for a in moved["allocations"]] == [(feb, "600.00")]
    later = (await pay(bill, org_id, lease_id, "1500.00"))["data"]
    assert [(a["charge_id"], a["amount"]["amount"]) for a in later["allocations"]] == [(feb, "400.00"),
                                                                                        (mar, "1000.00")]
    assert await statuses(bill, org_id, lease_id) == {jan: ("paid", "1000.00"), feb: ("paid", "1000.00"),
                                                      mar: ("paid", "1000.00")}
    assert await balance(bill, org_id, lease_id) == Decimal("-100.00")
    resp = await bill.client.get("/v1/balances", headers=h)
    assert (await ok(resp))["balances"][0]["credit"] == "100.00"


async def test_idempotency_key_replays_and_refuses_another_body(bill: ServiceHarness, infra: Infra,
                                                                org_id: str) -> None:
    lease_id, _ = await three_months(bill, infra, org_id)
    body = {"lease_id": lease_id, "amount": {"amount": "100.00", "currency": "USD"}, "method": "card"}
    headers = {**bill.headers(org_id=org_id), "Idempotency-Key": "pay-once-1"}
    a = await bill.client.post("/v1/payments", json=body, headers=headers)
    b = await bill.client.post("/v1/payments", json=body, headers=headers)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    c = await bill.client.post("/v1/payments", json={**body, "amount": {"amount": "101.00", "currency": "USD"}},
                               headers=headers)
    assert c.status_code == 422 and c.headers["content-type"] == "application/problem+json"
    listed = await bill.client.get("/v1/payments", params={"lease_id": lease_id}, headers=bill.headers(org_id=org_id))
    assert (listed.json())["meta"]["total"] == 1


async def test_pending_cheque_clears_later_or_fails(bill: ServiceHarness, infra: Infra, org_id: str) -> None:
    lease_id, (jan, _, _) = await three_months(bill, infra, org_id)
    cheque = (await pay(bill, org_id, lease_id, "1000.00", method="cheque", status="pending",
                        reference="CHQ-0042"))["data"]
    assert cheque["status"] == "pending" and cheque["allocations"] == []
    assert await balance(bill, org_id, lease_id) == Decimal("3000.00")
    h = bill.headers(org_id=org_id)
    cleared = await ok(await bill.client.post(f"/v1/payments/{cheque['id']}/complete", headers=h))
    assert cleared["status"] == "completed" and cleared["allocations"][0]["charge_id"] == jan
    assert await balance(bill, org_id, lease_id) == Decimal("2000.00")
    again = await bill.client.post(f"/v1/payments/{cheque['id']}/complete", headers=h)
    assert again.status_code == 409 and again.json()["allowed"] == ["reversed"]
    other = (await pay(bill, org_id, lease_id, "50.00", method="cheque", status="pending"))["data"]
    failed = await ok(await bill.client.post(f"/v1/payments/{other['id']}/fail", json={"reason": "stopped"},
                                             headers=h))
    assert failed["status"] == "failed"
    assert (await bill.client.post(f"/v1/payments/{other['id']}/reverse", headers=h)).status_code == 409
    assert await balance(bill, org_id, lease_id) == Decimal("2000.00")


async def test_reversal_with_nsf_fee_reopens_charges(bill: ServiceHarness, infra: Infra, org_id: str) -> None:
    lease_id, (jan, feb, _) = await three_months(bill, infra, org_id)
    first = (await pay(bill, org_id, lease_id, "1000.00"))["data"]
    await pay(bill, org_id, lease_id, "1000.00")
    h = bill.headers(org_id=org_id)
    async with EventReader(infra.kafka_bootstrap, "billing.events") as reader:
        resp = await bill.client.post(f"/v1/payments/{first['id']}/reverse",
                                      json={"reason": "NSF", "nsf_fee": {"amount": "35.00", "currency": "USD"}},
                                      headers=h)
        reversed_ = await ok(resp)
        [(key, event)] = await reader.wait_for(lambda k, e: e.type == "hearth.payment.reversed.v1"
                                               and e.data["payment_id"] == first["id"])
    assert key == first["id"].encode()
    assert event.data["nsf_fee_charge_id"] == reversed_["nsf_fee_charge_id"]
    assert reversed_["status"] == "reversed" and reversed_["allocations"] == []
    now = await statuses(bill, org_id, lease_id)
    assert now[jan] == ("paid", "1000.00") and now[feb] == ("open", "0.00")  # the other payment moved to January
    assert now[reversed_["nsf_fee_charge_id"]] == ("open", "0.00")
    assert await balance(bill, org_id, lease_id) == Decimal("2035.00")
    book = await ledger(bill, org_id, lease_id)
    assert [e["type"] for e in book["data"]][-3:] == ["payment", "charge", "reversal"]
    assert (await bill.client.post(f"/v1/payments/{first['id']}/reverse", headers=h)).status_code == 409


async def test_void_refuses_a_paid_charge_and_takes_an_open_one_off(bill: ServiceHarness, infra: Infra,
                                                                    org_id: str) -> None:
    lease_id, (jan, _, mar) = await three_months(bill, infra, org_id)
    await pay(bill, org_id, lease_id, "400.00")
    h = bill.headers(org_id=org_id)
    refused = await bill.client.post(f"/v1/charges/{jan}/void", headers=h)
    assert refused.status_code == 409 and refused.json()["status_now"] == "partially_paid"
    voided = await ok(await bill.client.post(f"/v1/charges/{mar}/void", json={"reason": "waived"}, headers=h))
    assert voided["status"] == "void"
    assert (await bill.client.post(f"/v1/charges/{mar}/void", headers=h)).status_code == 409
    assert await balance(bill, org_id, lease_id) == Decimal("1600.00")
    credit = await ok(await bill.client.post("/v1/charges", json={
        "lease_id": lease_id, "kind": "credit", "amount": {"amount": "600.00", "currency": "USD"},
        "description": "goodwill"}, headers=h), 201)
    assert credit["status"] == "applied"
    assert (await statuses(bill, org_id, lease_id))[jan] == ("paid", "1000.00")
    assert await balance(bill, org_id, lease_id) == Decimal("1000.00")


BAD_PAYMENTS: list[tuple[str, dict[str, Any], int]] = [
    ("float amount", {"amount": {"amount": 10.5, "currency": "USD"}}, 422),
    ("zero", {"amount": {"amount": "0.00", "currency": "USD"}}, 422),
    ("negative", {"amount": {"amount": "-5.00", "currency": "USD"}}, 422),
    ("too many decimals", {"amount": {"amount": "10.001", "currency": "USD"}}, 422),
    ("huge", {"amount": {"amount": "9" * 40, "currency": "USD"}}, 422),
    ("other currency", {"amount": {"amount": "10.00", "currency": "EUR"}}, 422),
    ("unknown currency", {"amount": {"amount": "10.00", "currency": "ZZZ"}}, 422),
    ("bad method", {"method": "bitcoin"}, 422),
    ("NUL in reference", {"reference": "a\x00b"}, 422),
    ("naive time", {"received_at": "2026-01-01T10:00:00"}, 422),
    ("year 9999", {"received_at": "9999-01-01T10:00:00Z"}, 422),
    ("unknown field", {"surprise": 1}, 422),
    ("no lease nor resident", {"lease_id": None}, 422),
    ("bad lease id", {"lease_id": "lease_'; DROP TABLE payments"}, 422),
    ("status reversed", {"status": "reversed"}, 422),
]


async def test_bad_payments_are_refused_and_change_nothing(bill: ServiceHarness, infra: Infra, org_id: str) -> None:
    lease_id, _ = await three_months(bill, infra, org_id)
    other_org_lease, _ = await three_months(bill, infra, "org_" + "1" * 26)
    h = bill.headers(org_id=org_id)
    base = {"lease_id": lease_id, "amount": {"amount": "10.00", "currency": "USD"}, "method": "cash"}
    cases = [*BAD_PAYMENTS, ("another org's lease", {"lease_id": other_org_lease}, 422),
             ("resident not on lease", {"resident_id": "res_" + "2" * 26}, 422)]
    async with EventReader(infra.kafka_bootstrap, "billing.events") as reader:
        for name, over, status in cases:
            resp = await bill.client.post("/v1/payments", json={**base, **over}, headers=h)
            assert resp.status_code == status, (name, resp.text)
            assert resp.headers["content-type"] == "application/problem+json", name
        malformed = await bill.client.post("/v1/payments", content=b"{nope", headers={**h, "content-type":
                                                                                         "application/json"})
        assert malformed.status_code == 400
        marker = (await pay(bill, org_id, lease_id, "1.00"))["data"]
        [(_, first)] = await reader.wait_for(lambda k, e: e.orgid == org_id, count=1)
    assert first.data["payment_id"] == marker["id"]  # nothing was published before the good one
    listed = await bill.client.get("/v1/payments", params={"lease_id": lease_id}, headers=h)
    assert listed.json()["meta"]["total"] == 1
    assert await balance(bill, org_id, lease_id) == Decimal("2999.00")


async def test_payment_by_resident_and_list_filters(bill: ServiceHarness, infra: Infra, org_id: str) -> None:
    resident = "res_" + "3" * 26
    lease_id, _ = await three_months(bill, infra, org_id, resident_ids=[resident])
    h = bill.headers(org_id=org_id)
    body = {"resident_id": resident, "amount": {"amount": "25.00", "currency": "USD"}, "method": "card",
            "received_at": "2026-01-15T10:00:00Z"}
    made = await ok(await bill.client.post("/v1/payments", json=body, headers=h), 201)
    assert made["lease_id"] == lease_id and made["resident_id"] == resident
    await pay(bill, org_id, lease_id, "30.00", method="cash", received_at="2026-02-15T10:00:00Z")
    async def total(**params: Any) -> int:
        resp = await bill.client.get("/v1/payments", params=params, headers=h)
        assert resp.status_code == 200, resp.text
        return int(resp.json()["meta"]["total"])
    assert await total(resident_id=resident) == 2
    assert await total(method="card", lease_id=lease_id) == 1
    assert await total(**{"from": "2026-02-01", "to": "2026-02-28"}, lease_id=lease_id) == 1
    assert await total(**{"from": "2026-01-15", "to": "2026-01-15"}, lease_id=lease_id) == 1
    assert await total(status="pending", lease_id=lease_id) == 0
    building = (await ok(await bill.client.get(f"/v1/payments/{made['id']}", headers=h)))["building_id"]
    assert await total(property_id=building) == 2
    bad = await bill.client.get("/v1/payments", params={"from": "2026-13-01"}, headers=h)
    assert bad.status_code == 422
    assert (await bill.client.get("/v1/payments", params={"limit": 101}, headers=h)).status_code == 422
