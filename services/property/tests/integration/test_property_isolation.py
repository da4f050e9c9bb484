"""Another org's ids answer 404 on every route, and nothing of theirs changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hearth_kit.ids import new_id
from hearth_kit.testing import ServiceHarness
from property_helpers import building_body, lease_body, mk_agent, mk_building, mk_resident, mk_unit, ok, unit_body

pytestmark = pytest.mark.integration


async def test_every_route_hides_another_orgs_records(prop: ServiceHarness, org_id: str) -> None:
    owner = org_id
    today = datetime.now(UTC).date()
    b = await mk_building(prop, owner)
    agent = await mk_agent(prop, owner)
    u = await mk_unit(prop, owner, b["id"], assigned_agent=agent["id"], unit_number="1")
    spare = await mk_unit(prop, owner, b["id"])
    r = await mk_resident(prop, owner)
    lease = await ok(await prop.client.post(
        "/v1/leases", json=lease_body(u["id"], [r["id"]], today.isoformat(), (today + timedelta(days=9)).isoformat()),
        headers=prop.headers(org_id=owner)), 201)

    intruder = new_id("org")
    h = prop.headers(org_id=intruder)
    c = prop.client
    their_building = await mk_building(prop, intruder)
    their_resident = await mk_resident(prop, intruder)
    routes = [
        c.get(f"/v1/buildings/{b['id']}", headers=h),
        c.put(f"/v1/buildings/{b['id']}", json=building_body(), headers=h),
        c.patch(f"/v1/buildings/{b['id']}", json={"name": "x"}, headers=h),
        c.delete(f"/v1/buildings/{b['id']}", headers=h),
        c.get(f"/v1/buildings/{b['id']}/units", headers=h),
        c.get(f"/v1/units/{u['id']}", headers=h),
        c.get(f"/v1/units/{u['id']}?expand=building,agent", headers=h),
        c.put(f"/v1/units/{u['id']}", json=unit_body(b["id"]), headers=h),
        c.patch(f"/v1/units/{u['id']}", json={"name": "x"}, headers=h),
        c.delete(f"/v1/units/{spare['id']}", headers=h),
        c.patch("/v1/units/bulk/status", json={"unit_ids": [u["id"]], "status": "sold"}, headers=h),
        c.post("/v1/units", json=unit_body(b["id"]), headers=h),
        c.post("/v1/units", json=unit_body(their_building["id"], assigned_agent=agent["id"]), headers=h),
        c.get(f"/v1/agents/{agent['id']}", headers=h),
        c.put(f"/v1/agents/{agent['id']}", json={"name": "x"}, headers=h),
        c.patch(f"/v1/agents/{agent['id']}", json={"name": "x"}, headers=h),
        c.get(f"/v1/residents/{r['id']}", headers=h),
        c.put(f"/v1/residents/{r['id']}", json={"name": "x"}, headers=h),
        c.patch(f"/v1/residents/{r['id']}", json={"name": "x"}, headers=h),
        c.get(f"/v1/leases/{lease['id']}", headers=h),
        c.post(f"/v1/leases/{lease['id']}/terminate", headers=h),
        c.post("/v1/leases", json=lease_body(spare["id"], [their_resident["id"]], "2030-01-01", None), headers=h),
        c.post("/v1/leases", json=lease_body("unit_x", [r["id"]], "2030-01-01", None), headers=h),
    ]
    for call in routes:
        resp = await call
        assert resp.status_code == 404, resp.request.url
        assert resp.headers["content-type"] == "application/problem+json"
    bulk = await c.post("/v1/units/bulk", json={"units": [unit_body(b["id"])]}, headers=h)
    assert bulk.status_code == 422 and bulk.json()["errors"][0]["field"] == "building_id"
    for path in ("/v1/units", f"/v1/units?building_id={b['id']}", f"/v1/residents?building_id={b['id']}",
                 f"/v1/leases?unit_id={u['id']}", f"/v1/residents?unit_id={u['id']}", "/v1/agents"):
        listed = (await c.get(path, headers=h)).json()
        assert all(x["id"] not in {u["id"], spare["id"], r["id"], agent["id"]} for x in listed["data"]), path
    assert (await c.get("/v1/buildings", headers=h)).json()["meta"]["total"] == 1
    # nothing of the owner's changed
    mine = prop.headers(org_id=owner)
    assert (await ok(await c.get(f"/v1/units/{u['id']}", headers=mine)))["status"] == "rented"
    assert (await ok(await c.get(f"/v1/leases/{lease['id']}", headers=mine)))["status"] == "active"
    assert (await ok(await c.get(f"/v1/buildings/{b['id']}", headers=mine)))["units"] == 2
