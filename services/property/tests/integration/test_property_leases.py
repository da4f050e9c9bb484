"""Leases: status by date, overlap 409, unit rented/available, termination, the date sweep; residents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema
from hearth_property.main import build_app
from hearth_property.service.leases import sweep_leases
from property_helpers import lease_body, mk_building, mk_resident, mk_unit, ok

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


def d(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
async def leasing(infra: Infra) -> AsyncIterator[ServiceHarness]:
    """A property service of its own: the sweep tests move 'today' for every lease in the schema."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEARTH_PROPERTY_LEASE_SWEEP_SECONDS", "3600")
        async with service_harness(infra, schema=unique_schema("property"), prefix="HEARTH_PROPERTY_",
                                   build_app=build_app, monkeypatch_env=mp.setenv) as harness:
            yield harness


async def unit_status(h: ServiceHarness, org: str, unit_id: str) -> str:
    return (await ok(await h.client.get(f"/v1/units/{unit_id}", headers=h.headers(org_id=org))))["status"]  # type: ignore[no-any-return]


async def setup(h: ServiceHarness, org: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    b = await mk_building(h, org)
    unit = await mk_unit(h, org, b["id"])
    res = await mk_resident(h, org)
    return b, unit, res


async def test_active_lease_rents_the_unit_and_overlaps_are_409(leasing: ServiceHarness, org_id: str) -> None:
    h = leasing.headers(org_id=org_id)
    b, unit, res = await setup(leasing, org_id)
    lease = await ok(await leasing.client.post(
        "/v1/leases", json=lease_body(unit["id"], [res["id"]], d(-10), d(355)), headers=h), 201)
    assert lease["status"] == "active" and lease["rent"] == {"amount": "1250.00", "currency": "USD"}
    assert lease["resident_ids"] == [res["id"]] and lease["building_id"] == b["id"]
    assert await unit_status(leasing, org_id, unit["id"]) == "rented"
    building = await ok(await leasing.client.get(f"/v1/buildings/{b['id']}", headers=h))
    assert (building["occupied_units"], building["occupancy"]) == (1, 1.0)
    for start, end in ((d(0), d(30)), (d(355), None), (d(-400), d(-10)), (d(-400), None)):
        clash = await leasing.client.post("/v1/leases", json=lease_body(unit["id"], [res["id"]], start, end),
                                          headers=h)
        assert clash.status_code == 409, (start, end, clash.text)
        assert clash.json()["conflicting_lease_id"] == lease["id"]
    after = await ok(await leasing.client.post(
        "/v1/leases", json=lease_body(unit["id"], [res["id"]], d(356), d(700)), headers=h), 201)
    assert after["status"] == "future"
    before = await ok(await leasing.client.post(
        "/v1/leases", json=lease_body(unit["id"], [res["id"]], d(-400), d(-11)), headers=h), 201)
    assert before["status"] == "past"
    assert await unit_status(leasing, org_id, unit["id"]) == "rented"
    refused = await leasing.client.delete(f"/v1/units/{unit['id']}", headers=h)
    assert refused.status_code == 409


async def test_terminate_frees_the_unit(leasing: ServiceHarness, org_id: str) -> None:
    h = leasing.headers(org_id=org_id)
    _, unit, res = await setup(leasing, org_id)
    lease = await ok(await leasing.client.post(
        "/v1/leases", json=lease_body(unit["id"], [res["id"]], d(-30), None), headers=h), 201)
    done = await ok(await leasing.client.post(f"/v1/leases/{lease['id']}/terminate",
                                              json={"reason": "moved out"}, headers=h))
    assert (done["status"], done["terminated_on"], done["termination_reason"]) == ("terminated", d(0), "moved out")
    assert await unit_status(leasing, org_id, unit["id"]) == "available"
    again = await leasing.client.post(f"/v1/leases/{lease['id']}/terminate", headers=h)
    assert again.status_code == 409
    # the unit is free from the termination date on
    await ok(await leasing.client.post("/v1/leases", json=lease_body(unit["id"], [res["id"]], d(0), d(60)),
                                       headers=h), 201)


async def test_future_termination_takes_effect_by_sweep(leasing: ServiceHarness, org_id: str) -> None:
    h = leasing.headers(org_id=org_id)
    _, unit, res = await setup(leasing, org_id)
    lease = await ok(await leasing.client.post(
        "/v1/leases", json=lease_body(unit["id"], [res["id"]], d(-30), d(300)), headers=h), 201)
    done = await ok(await leasing.client.post(f"/v1/leases/{lease['id']}/terminate", json={"date": d(20)},
                                              headers=h))
    assert done["status"] == "active"
    assert await unit_status(leasing, org_id, unit["id"]) == "rented"
    late = await leasing.client.post(f"/v1/leases/{lease['id']}/terminate", json={"date": d(20)}, headers=h)
    assert late.status_code == 409
    await sweep_leases(leasing.app.state.runtime.db, today=TODAY + timedelta(days=20))
    assert (await ok(await leasing.client.get(f"/v1/leases/{lease['id']}", headers=h)))["terminated_on"] == d(20)
    assert await unit_status(leasing, org_id, unit["id"]) == "available"


async def test_sweep_activates_and_ends_by_date_once(leasing: ServiceHarness, org_id: str) -> None:
    h = leasing.headers(org_id=org_id)
    _, unit, res = await setup(leasing, org_id)
    lease = await ok(await leasing.client.post(
        "/v1/leases", json=lease_body(unit["id"], [res["id"]], d(5), d(9)), headers=h), 201)
    assert lease["status"] == "future"
    assert await unit_status(leasing, org_id, unit["id"]) == "available"
    db = leasing.app.state.runtime.db
    await sweep_leases(db, today=TODAY + timedelta(days=4))
    assert await unit_status(leasing, org_id, unit["id"]) == "available"
    first = await sweep_leases(db, today=TODAY + timedelta(days=5))
    assert first["activate"] >= 1
    assert await unit_status(leasing, org_id, unit["id"]) == "rented"
    async with leasing.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT announced FROM leases WHERE id = $1", lease["id"]) == "active"
    await sweep_leases(db, today=TODAY + timedelta(days=9))
    assert await unit_status(leasing, org_id, unit["id"]) == "rented"  # the end date is still a lease day
    await sweep_leases(db, today=TODAY + timedelta(days=10))
    assert await unit_status(leasing, org_id, unit["id"]) == "available"
    async with leasing.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT announced FROM leases WHERE id = $1", lease["id"]) == "ended"
        events = await conn.fetchval("SELECT count(*) FROM outbox WHERE key = $1", lease["id"])
    again = await sweep_leases(db, today=TODAY + timedelta(days=10))
    assert again == {"activate": 0, "end": 0, "close": 0}
    async with leasing.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE key = $1", lease["id"]) <= events


async def test_lease_lists_filters_and_resident_history(leasing: ServiceHarness, org_id: str) -> None:
    h = leasing.headers(org_id=org_id)
    b, unit, res = await setup(leasing, org_id)
    unit2 = await mk_unit(leasing, org_id, b["id"])
    res2 = await mk_resident(leasing, org_id, name="Max Mustermann", email="max@example.com")
    old = await ok(await leasing.client.post("/v1/leases", json=lease_body(unit["id"], [res["id"]], d(-400), d(-40)),
                                             headers=h), 201)
    cur = await ok(await leasing.client.post(
        "/v1/leases", json=lease_body(unit["id"], [res["id"], res2["id"]], d(-39), None), headers=h), 201)
    fut = await ok(await leasing.client.post("/v1/leases", json=lease_body(unit2["id"], [res2["id"]], d(10), d(40)),
                                             headers=h), 201)

    async def lease_ids(q: str) -> set[str]:
        return {x["id"] for x in (await leasing.client.get(f"/v1/leases?{q}", headers=h)).json()["data"]}

    assert await lease_ids("") == {old["id"], cur["id"], fut["id"]}
    assert await lease_ids(f"unit_id={unit['id']}") == {old["id"], cur["id"]}
    assert await lease_ids(f"resident_id={res2['id']}") == {cur["id"], fut["id"]}
    assert await lease_ids("status=past") == {old["id"]}
    assert await lease_ids("status=active") == {cur["id"]}
    assert await lease_ids("status=future") == {fut["id"]}
    assert (await leasing.client.get("/v1/leases?status=expired", headers=h)).status_code == 422

    async def resident_ids(q: str) -> set[str]:
        return {x["id"] for x in (await leasing.client.get(f"/v1/residents?{q}", headers=h)).json()["data"]}

    assert await resident_ids(f"unit_id={unit2['id']}") == {res2["id"]}
    assert await resident_ids(f"building_id={b['id']}") == {res["id"], res2["id"]}
    assert await resident_ids("q=musterm") == {res2["id"]}
    assert await resident_ids("status=former") == set()
    detail = await ok(await leasing.client.get(f"/v1/residents/{res['id']}", headers=h))
    assert [x["id"] for x in detail["leases"]] == [cur["id"], old["id"]]
    assert detail["payments"] == [] and detail["emergency_contacts"][0]["relationship"] == "spouse"


async def test_bad_lease_input(leasing: ServiceHarness, org_id: str) -> None:
    h = leasing.headers(org_id=org_id)
    _, unit, res = await setup(leasing, org_id)
    unknown = await leasing.client.post("/v1/leases", json=lease_body(unit["id"], [res["id"], "res_nope"], d(0), d(9)),
                                        headers=h)
    assert unknown.status_code == 404 and unknown.json()["unknown_ids"] == ["res_nope"]
    no_unit = await leasing.client.post("/v1/leases", json=lease_body("unit_nope", [res["id"]], d(0), d(9)), headers=h)
    assert no_unit.status_code == 404 and no_unit.json()["errors"][0]["field"] == "unit_id"
    for bad in ({"payment_due_day": 31}, {"end_date": d(-1)}, {"type": "monthly"},
                {"rent": {"amount": "-1", "currency": "USD"}}):
        resp = await leasing.client.post("/v1/leases", json={**lease_body(unit["id"], [res["id"]], d(0), d(9)), **bad},
                                         headers=h)
        assert resp.status_code == 422, bad
    async with leasing.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM leases") == 0


async def test_residents_update(leasing: ServiceHarness, org_id: str) -> None:
    h = leasing.headers(org_id=org_id)
    res = await mk_resident(leasing, org_id)
    patched = await ok(await leasing.client.patch(f"/v1/residents/{res['id']}", json={"status": "former"}, headers=h))
    assert patched["status"] == "former" and patched["email"] == "jane@example.com"
    put = await ok(await leasing.client.put(f"/v1/residents/{res['id']}", json={"name": "Jane Roe"}, headers=h))
    assert (put["name"], put["email"], put["status"], put["emergency_contacts"]) == ("Jane Roe", None, "active", [])
    bad = await leasing.client.patch(f"/v1/residents/{res['id']}", json={"status": "gone"}, headers=h)
    assert bad.status_code == 422 and set(bad.json()["errors"][0]["allowed"]) == {"active", "inactive", "former"}
    bad_contact = await leasing.client.patch(f"/v1/residents/{res['id']}",
                                             json={"emergency_contacts": [{"name": "x"}]}, headers=h)
    assert bad_contact.status_code == 422


async def test_agents_crud(leasing: ServiceHarness, org_id: str) -> None:
    h = leasing.headers(org_id=org_id)
    agent = await ok(await leasing.client.post("/v1/agents", json={"name": "Sarah", "phone": "+1 555"}, headers=h), 201)
    assert agent["id"].startswith("agt_")
    patched = await ok(await leasing.client.patch(f"/v1/agents/{agent['id']}", json={"email": "s@x.io"}, headers=h))
    assert (patched["name"], patched["email"], patched["phone"]) == ("Sarah", "s@x.io", "+1 555")
    put = await ok(await leasing.client.put(f"/v1/agents/{agent['id']}", json={"name": "Sarah M"}, headers=h))
    assert (put["name"], put["phone"]) == ("Sarah M", None)
    listed = (await leasing.client.get("/v1/agents?q=sarah", headers=h)).json()
    assert listed["meta"]["total"] == 1
    assert (await leasing.client.post("/v1/agents", json={"name": "x", "email": "nope"}, headers=h)).status_code == 422

