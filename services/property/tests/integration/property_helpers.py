"""Request builders shared by the property integration tests."""

from __future__ import annotations

from typing import Any

from hearth_kit.testing import ServiceHarness


def building_body(name: str = "Aurora Heights", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name, "type": "residential", "timezone": "UTC",
        "address": {"line1": "15 Innovation Drive", "city": "Berlin", "country": "DE"},
    }
    body.update(over)
    return body


def unit_body(building_id: str, name: str = "Unit", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"building_id": building_id, "name": name,
                            "price": {"amount": "250000.00", "currency": "USD"}}
    body.update(over)
    return body


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()["data"] if resp.content else None


async def mk_building(h: ServiceHarness, org: str, **over: Any) -> dict[str, Any]:
    resp = await h.client.post("/v1/buildings", json=building_body(**over), headers=h.headers(org_id=org))
    return await ok(resp, 201)  # type: ignore[no-any-return]


async def mk_unit(h: ServiceHarness, org: str, building_id: str, **over: Any) -> dict[str, Any]:
    resp = await h.client.post("/v1/units", json=unit_body(building_id, **over), headers=h.headers(org_id=org))
    return await ok(resp, 201)  # type: ignore[no-any-return]


async def mk_agent(h: ServiceHarness, org: str, name: str = "Sarah Martinez") -> dict[str, Any]:
    resp = await h.client.post("/v1/agents", json={"name": name, "email": "sarah@agency.com"},
                               headers=h.headers(org_id=org))
    return await ok(resp, 201)  # type: ignore[no-any-return]


async def mk_resident(h: ServiceHarness, org: str, name: str = "Jane Doe", **over: Any) -> dict[str, Any]:
    body = {"name": name, "email": "jane@example.com", "phone": "+49 30 1234",
            "emergency_contacts": [{"name": "John Doe", "phone": "+49 30 999", "relationship": "spouse"}], **over}
    resp = await h.client.post("/v1/residents", json=body, headers=h.headers(org_id=org))
    return await ok(resp, 201)  # type: ignore[no-any-return]


def lease_body(unit_id: str, resident_ids: list[str], start: str, end: str | None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "unit_id": unit_id, "resident_ids": resident_ids, "start_date": start, "end_date": end,
        "type": "fixed" if end else "at_will", "rent": {"amount": "1250.00", "currency": "USD"},
        "deposit": {"amount": "2500.00", "currency": "USD"}, "payment_due_day": 1,
    }
    body.update(over)
    return body
