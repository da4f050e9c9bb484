"""The property domain through the gateway: units, filters, bulk, visibility, leases, residents, isolation."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from conftest import bearer, new_key, new_org

pytestmark = pytest.mark.e2e


async def setup_portfolio(gw: httpx.AsyncClient, demo: dict[str, Any]) -> dict[str, Any]:
    org = await new_org(gw, demo)
    h = bearer(org["key"])
    building = (await gw.post("/v1/buildings", headers=h, json={
        "name": "Marina Tower A", "type": "residential", "timezone": "Asia/Dubai",
        "address": {"line1": "Dubai Marina", "city": "Dubai", "country": "AE"}})).json()["data"]
    agent = (await gw.post("/v1/agents", headers=h, json={
        "name": "Sarah Martinez", "email": "sarah@agency.com", "phone": "+971500000000"})).json()["data"]
    units = [
        {"building_id": building["id"], "name": f"Unit {i}", "unit_number": f"A-{100 + i}", "bedrooms": i % 4,
         "price": {"amount": str(100_000 + i * 50_000), "currency": "USD"},
         "size": {"interior": 50 + i * 10, "unit": "sqm"},
         "visibility": ["public", "agents", "team", "private"][i % 4],
         "assigned_agent": agent["id"] if i % 2 else None}
        for i in range(8)
    ]
    resp = await gw.post("/v1/units/bulk", headers=h, json={"units": units})
    assert resp.status_code == 201, resp.text
    created = resp.json()["data"]
    return {"org": org, "h": h, "building": building, "agent": agent, "units": created}


async def test_unit_filters_sorting_expand_and_visibility(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    p = await setup_portfolio(gw, demo)
    h, agent = p["h"], p["agent"]
    listed = (await gw.get("/v1/units", headers=h, params={"limit": 100})).json()
    assert listed["meta"]["total"] == 8
    priced = (await gw.get("/v1/units", headers=h, params={"min_price": 200000, "max_price": 300000,
                                                             "sort": "-price"})).json()["data"]
    assert [u["price"]["amount"] for u in priced] == ["300000.00", "250000.00", "200000.00"]
    two_bed = (await gw.get("/v1/units", headers=h, params={"bedrooms": 2})).json()["data"]
    assert {u["unit_number"] for u in two_bed} == {"A-102", "A-106"}
    by_agent = (await gw.get("/v1/units", headers=h, params={"agent_id": agent["id"]})).json()["meta"]["total"]
    assert by_agent == 4
    big = (await gw.get("/v1/units", headers=h, params={"min_size": 100})).json()["meta"]["total"]
    assert big == 3
    in_building = await gw.get(f"/v1/buildings/{p['building']['id']}/units", headers=h)
    assert in_building.json()["meta"]["total"] == 8
    bad = await gw.get("/v1/units", headers=h, params={"min_price": 5, "max_price": 1})
    assert bad.status_code == 400
    unknown = await gw.get("/v1/units", headers=h, params={"status": "demolished"})
    assert unknown.status_code == 422
    assert "available" in unknown.json()["errors"][0]["allowed"]
    one = p["units"][1]["id"]
    expanded = (await gw.get(f"/v1/units/{one}", headers=h, params={"expand": "building,agent"})).json()["data"]
    assert expanded["building"]["name"] == "Marina Tower A"
    assert expanded["agent"]["email"] == "sarah@agency.com"
    partner = await new_key(gw, p["org"]["key"], role="partner")
    seen = (await gw.get("/v1/units", headers=bearer(partner["secret"]), params={"limit": 100})).json()
    assert {u["visibility"] for u in seen["data"]} == {"public"}
    assert (await gw.post("/v1/units", headers=bearer(partner["secret"]), json={})).status_code == 403


async def test_bulk_rules_leases_and_residents(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    p = await setup_portfolio(gw, demo)
    h, units = p["h"], p["units"]
    clash = await gw.post("/v1/units/bulk", headers=h, json={"units": [
        {"building_id": p["building"]["id"], "name": "New", "unit_number": "Z-1",
         "price": {"amount": "1", "currency": "USD"}},
        {"building_id": p["building"]["id"], "name": "Dup", "unit_number": "A-100",
         "price": {"amount": "1", "currency": "USD"}}]})
    assert clash.status_code == 409
    assert (await gw.get("/v1/units", headers=h)).json()["meta"]["total"] == 8  # all or nothing
    status = await gw.patch("/v1/units/bulk/status", headers=h, json={
        "unit_ids": [units[0]["id"], "unit_01nosuchunit00000000000000"], "status": "off_market"})
    assert status.status_code == 404
    assert status.json()["unknown_ids"] == ["unit_01nosuchunit00000000000000"]
    resident = (await gw.post("/v1/residents", headers=h, json={
        "name": "Ada Tenant", "email": "ada@example.com", "phone": "+10000000000",
        "emergency_contacts": [{"name": "Bob", "phone": "+1999", "relationship": "brother"}]})).json()["data"]
    start = date.today() - timedelta(days=10)
    lease_body = {"unit_id": units[0]["id"], "resident_ids": [resident["id"]], "type": "fixed",
                  "start_date": start.isoformat(), "end_date": (start + timedelta(days=365)).isoformat(),
                  "rent": {"amount": "2500.00", "currency": "USD"},
                  "deposit": {"amount": "5000.00", "currency": "USD"}, "payment_due_day": 1}
    lease = await gw.post("/v1/leases", headers=h, json=lease_body)
    assert lease.status_code == 201, lease.text
    assert lease.json()["data"]["status"] == "active"
    unit = (await gw.get(f"/v1/units/{units[0]['id']}", headers=h)).json()["data"]
    assert unit["status"] == "rented"
    overlap = await gw.post("/v1/leases", headers=h, json={**lease_body, "start_date": date.today().isoformat()})
    assert overlap.status_code == 409
    building = (await gw.get(f"/v1/buildings/{p['building']['id']}", headers=h)).json()["data"]
    assert (building["units"], building["occupied_units"]) == (8, 1)
    detail = (await gw.get(f"/v1/residents/{resident['id']}", headers=h)).json()["data"]
    assert [lz["id"] for lz in detail["leases"]] == [lease.json()["data"]["id"]]
    assert detail["payments"] == []
    ended = await gw.post(f"/v1/leases/{lease.json()['data']['id']}/terminate", headers=h,
                          json={"reason": "moved out"})
    assert ended.status_code == 200, ended.text
    assert (await gw.get(f"/v1/units/{units[0]['id']}", headers=h)).json()["data"]["status"] == "available"
    refused = await gw.delete(f"/v1/buildings/{p['building']['id']}", headers=h)
    assert refused.status_code == 409


async def test_another_orgs_ids_are_404_everywhere(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    p = await setup_portfolio(gw, demo)
    other = bearer((await new_org(gw, demo))["key"])
    unit_id, bid, agent_id = p["units"][0]["id"], p["building"]["id"], p["agent"]["id"]
    for method, path in [("GET", f"/v1/units/{unit_id}"), ("GET", f"/v1/buildings/{bid}"),
                         ("GET", f"/v1/buildings/{bid}/units"), ("GET", f"/v1/agents/{agent_id}"),
                         ("PATCH", f"/v1/units/{unit_id}"), ("DELETE", f"/v1/units/{unit_id}"),
                         ("PATCH", f"/v1/buildings/{bid}")]:
        resp = await gw.request(method, path, headers=other, json={"name": "x"} if method == "PATCH" else None)
        assert resp.status_code == 404, (method, path, resp.status_code, resp.text)
    assert (await gw.get(f"/v1/units/{unit_id}", headers=p["h"])).status_code == 200
