"""Requests through the API: create with SLA due dates, settings, filters, roles and the technician's view,
comments and history, events through the outbox, bad input, and the projection wait."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hearth_kit.ids import new_id
from hearth_kit.testing import EventReader, Infra, ServiceHarness
from maint_helpers import (
    World,
    count_rows,
    make_world,
    mk_request,
    ok,
    problem,
    project_building,
    project_unit,
    request_body,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(maint: ServiceHarness, producer: AIOKafkaProducer, org_id: str) -> World:
    return await make_world(maint, producer, org_id)


def hours_between(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() / 3600


async def test_create_returns_every_field_with_sla_due(maint: ServiceHarness, world: World) -> None:
    req = await mk_request(maint, world, attachments=["https://img.example.com/a.jpg"], entry_notes="Dog inside",
                           scheduled_window={"start": "2030-01-01T09:00:00Z", "end": "2030-01-01T11:00:00Z"},
                           vendor_name="AquaFix")
    assert req["id"].startswith("req_") and req["status"] == "new" and req["allowed_next"] == ["assigned", "canceled"]
    assert req["unit_id"] == world.unit and req["building_id"] == world.building
    assert req["attachments"] == ["https://img.example.com/a.jpg"] and req["entry_notes"] == "Dog inside"
    assert req["scheduled_window"]["start"].startswith("2030-01-01T09:00:00")
    assert req["overdue"] is False and req["completed_at"] is None and req["reopen_count"] == 0
    assert hours_between(req["created_at"], req["due_at"]) == 72
    got = ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=maint.headers(org_id=world.org)))
    assert got["history"][0]["kind"] == "created" and got["comments"] == []


@pytest.mark.parametrize(("priority", "hours"), [("emergency", 4), ("high", 24), ("normal", 72), ("low", 168)])
async def test_default_sla_per_priority(maint: ServiceHarness, world: World, priority: str, hours: int) -> None:
    req = await mk_request(maint, world, priority=priority)
    assert hours_between(req["created_at"], req["due_at"]) == hours


async def test_settings_change_sets_new_due_dates(maint: ServiceHarness, world: World) -> None:
    h = maint.headers(org_id=world.org)
    got = ok(await maint.client.get("/v1/maintenance-settings", headers=h))
    assert got["defaults"] is True and got["sla_hours"] == {"emergency": 4, "high": 24, "normal": 72, "low": 168}
    new = {"emergency": 2, "high": 8, "normal": 48, "low": 120}
    ok(await maint.client.put("/v1/maintenance-settings", json={"sla_hours": new}, headers=h))
    assert ok(await maint.client.get("/v1/maintenance-settings", headers=h))["sla_hours"] == new
    for priority, hours in new.items():
        req = await mk_request(maint, world, priority=priority)
        assert hours_between(req["created_at"], req["due_at"]) == hours
    # a priority change recomputes the deadline from the opening time
    req = await mk_request(maint, world, priority="low")
    changed = ok(await maint.client.patch(f"/v1/requests/{req['id']}", json={"priority": "emergency"}, headers=h))
    assert hours_between(changed["created_at"], changed["due_at"]) == 2
    problem(await maint.client.put("/v1/maintenance-settings", json={"sla_hours": {**new, "low": 0}}, headers=h), 422)
    problem(await maint.client.put("/v1/maintenance-settings", json={"sla_hours": new},
                                   headers=maint.headers(org_id=world.org, role="technician")), 403)


async def test_every_filter_and_sort(maint: ServiceHarness, world: World, producer: AIOKafkaProducer) -> None:
    h = maint.headers(org_id=world.org)
    other_building = await project_building(producer, world.org)
    other_unit = await project_unit(producer, world.org, other_building)
    from maint_helpers import projected
    await projected(maint, world.org, "units", other_unit)
    a = await mk_request(maint, world, title="Broken heater", category="hvac", priority="high", source="staff")
    b = await mk_request(maint, world, title="Leaking sink", priority="low", assignee_id=world.tech)
    c = await mk_request(maint, world, building_id=other_building, unit_id=other_unit, title="Pests in hall",
                         category="pest", priority="emergency", source="partner")
    ok(await maint.client.post(f"/v1/requests/{c['id']}/cancel", json={}, headers=h))
    async with maint.raw(org_id=world.org) as conn:  # make `a` overdue
        await conn.execute("UPDATE requests SET due_at = now() - interval '1 hour' WHERE id = $1", a["id"])

    async def ids(query: str) -> set[str]:
        resp = ok(await maint.client.get(f"/v1/requests?{query}", headers=h))
        return {r["id"] for r in resp}

    assert await ids("") == {a["id"], b["id"], c["id"]}
    assert await ids("status=new") == {a["id"]}
    assert await ids("status=new&status=canceled") == {a["id"], c["id"]}
    assert await ids("priority=low") == {b["id"]}
    assert await ids("category=hvac") == {a["id"]}
    assert await ids(f"building_id={other_building}") == {c["id"]}
    assert await ids(f"unit_id={world.unit}") == {a["id"], b["id"]}
    assert await ids(f"assignee_id={world.tech}") == {b["id"]}
    assert await ids("overdue=true") == {a["id"]}
    assert await ids("overdue=false") == {b["id"], c["id"]}
    assert await ids("source=partner") == {c["id"]}
    assert await ids("q=LEAK") == {b["id"]}
    assert await ids("q=%25") == set()  # LIKE wildcards are literal
    created_b = b["created_at"].replace("+00:00", "Z")
    assert await ids(f"created_from={created_b}") == {b["id"], c["id"]}
    assert await ids(f"created_to={created_b}") == {a["id"]}
    listed = ok(await maint.client.get("/v1/requests?sort=-priority", headers=h))
    assert [r["id"] for r in listed] == [c["id"], a["id"], b["id"]]
    listed = ok(await maint.client.get("/v1/requests?sort=created_at", headers=h))
    assert [r["id"] for r in listed] == [a["id"], b["id"], c["id"]]
    page = (await maint.client.get("/v1/requests?limit=2&page=2&sort=created_at", headers=h)).json()
    assert page["meta"] == {"total": 3, "page": 2, "limit": 2} and [r["id"] for r in page["data"]] == [c["id"]]
    bad = problem(await maint.client.get("/v1/requests?status=closed", headers=h), 422)
    assert "in_progress" in bad["errors"][0]["allowed"]
    problem(await maint.client.get("/v1/requests?sort=title", headers=h), 422)
    problem(await maint.client.get("/v1/requests?created_from=yesterday", headers=h), 422)


async def test_technician_sees_and_moves_only_their_own(maint: ServiceHarness, world: World) -> None:
    mine = await mk_request(maint, world, assignee_id=world.tech)
    theirs = await mk_request(maint, world, assignee_id=world.tech2)
    unassigned = await mk_request(maint, world)
    tech = maint.headers(org_id=world.org, role="technician", member_id=world.tech)
    listed = ok(await maint.client.get("/v1/requests", headers=tech))
    assert [r["id"] for r in listed] == [mine["id"]]
    for other in (theirs, unassigned):
        problem(await maint.client.get(f"/v1/requests/{other['id']}", headers=tech), 404)
        problem(await maint.client.post(f"/v1/requests/{other['id']}/start", headers=tech), 404)
        problem(await maint.client.post(f"/v1/requests/{other['id']}/comments", json={"body": "hi"}, headers=tech), 404)
    started = ok(await maint.client.post(f"/v1/requests/{mine['id']}/start", headers=tech))
    assert started["status"] == "in_progress"
    got = ok(await maint.client.get(f"/v1/requests/{mine['id']}", headers=tech))
    assert got["history"][-1]["actor_id"] == world.tech  # the member, not the key, is named
    # technicians move work along but do not cancel, reassign or edit
    problem(await maint.client.post(f"/v1/requests/{mine['id']}/cancel", headers=tech), 403)
    problem(await maint.client.patch(f"/v1/requests/{mine['id']}", json={"title": "x"}, headers=tech), 403)
    problem(await maint.client.post("/v1/requests", json=request_body(world), headers=tech), 403)
    ok(await maint.client.patch(f"/v1/requests/{mine['id']}", json={"status": "done"}, headers=tech))
    # a technician key that belongs to no member sees nothing
    nobody = maint.headers(org_id=world.org, role="technician")
    assert ok(await maint.client.get("/v1/requests", headers=nobody)) == []


async def test_leasing_agents_create_and_read_partners_only_read(maint: ServiceHarness, world: World) -> None:
    agent = maint.headers(org_id=world.org, role="leasing_agent")
    req = ok(await maint.client.post("/v1/requests", json=request_body(world), headers=agent), 201)
    assert ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=agent))["id"] == req["id"]
    problem(await maint.client.post(f"/v1/requests/{req['id']}/assign", json={"assignee_id": world.tech},
                                    headers=agent), 403)
    partner = maint.headers(org_id=world.org, role="partner")
    assert len(ok(await maint.client.get("/v1/requests", headers=partner))) == 1
    problem(await maint.client.post("/v1/requests", json=request_body(world), headers=partner), 403)
    problem(await maint.client.post(f"/v1/requests/{req['id']}/cancel", headers=partner), 403)
    problem(await maint.client.post(f"/v1/requests/{req['id']}/comments", json={"body": "x"}, headers=partner), 403)
    problem(await maint.client.patch(f"/v1/requests/{req['id']}", json={"status": "canceled"}, headers=partner), 403)


async def test_comments_history_and_events(maint: ServiceHarness, world: World, infra: Infra) -> None:
    h = maint.headers(org_id=world.org, member_id=world.manager, role="manager")
    async with EventReader(infra.kafka_bootstrap, "maintenance.events") as reader:
        req = await mk_request(maint, world)
        rid = req["id"]
        window = {"start": "2030-02-01T09:00:00Z", "end": "2030-02-01T12:00:00Z"}
        ok(await maint.client.post(f"/v1/requests/{rid}/assign", json={"assignee_id": world.tech,
                                                                       "scheduled_window": window}, headers=h))
        ok(await maint.client.post(f"/v1/requests/{rid}/reschedule", json={"scheduled_window": {
            "start": "2030-02-02T09:00:00Z", "end": "2030-02-02T12:00:00Z"}, "reason": "resident away"}, headers=h))
        ok(await maint.client.post(f"/v1/requests/{rid}/assign", json={"assignee_id": world.tech2}, headers=h))
        comment = ok(await maint.client.post(f"/v1/requests/{rid}/comments", json={"body": "Parts ordered"},
                                             headers=h), 201)
        ok(await maint.client.post(f"/v1/requests/{rid}/start", headers=h))
        ok(await maint.client.post(f"/v1/requests/{rid}/hold", json={"reason": "waiting for parts"}, headers=h))
        ok(await maint.client.post(f"/v1/requests/{rid}/resume", headers=h))
        done = ok(await maint.client.post(f"/v1/requests/{rid}/complete", json={"reason": "fixed"}, headers=h))
        assert done["completed_at"] is not None
        reopened = ok(await maint.client.post(f"/v1/requests/{rid}/reopen", json={"reason": "drips again"}, headers=h))
        assert reopened["reopen_count"] == 1 and reopened["completed_at"] is None
        ok(await maint.client.post(f"/v1/requests/{rid}/cancel", json={"reason": "resident moved out"}, headers=h))
        expected = ["created", "assigned", "status_changed", "rescheduled", "assigned", "comment_added",
                    "status_changed", "status_changed", "status_changed", "status_changed", "completed",
                    "status_changed", "reopened", "status_changed", "canceled"]
        seen = await reader.wait_for(lambda k, e: e.subject == rid, count=len(expected), timeout=20)
    types = [e.type.removeprefix("hearth.request.").removesuffix(".v1") for _, e in seen]
    assert sorted(types) == sorted(expected)
    assert all(k == rid.encode() and e.orgid == world.org for k, e in seen)
    assert [e.sequence for _, e in seen] == sorted(e.sequence for _, e in seen)
    by_type = {e.type: e.data for _, e in seen}
    assert by_type["hearth.request.rescheduled.v1"]["window"]["start"].startswith("2030-02-02T09:00")
    assert by_type["hearth.request.rescheduled.v1"]["assignee_id"] == world.tech
    assert by_type["hearth.request.canceled.v1"]["reason"] == "resident moved out"
    assert by_type["hearth.request.comment_added.v1"]["comment_id"] == comment["id"]
    got = ok(await maint.client.get(f"/v1/requests/{rid}", headers=h))
    moves = [(x["from"], x["to"], x["reason"]) for x in got["history"] if x["kind"] == "status_changed"]
    assert moves == [("new", "assigned", None), ("assigned", "in_progress", None),
                     ("in_progress", "on_hold", "waiting for parts"), ("on_hold", "in_progress", None),
                     ("in_progress", "done", "fixed"), ("done", "new", "drips again"),
                     ("new", "canceled", "resident moved out")]
    assert got["history"][0]["actor_id"].startswith("key_")  # created with a key that belongs to no member
    assert {x["actor_id"] for x in got["history"][1:]} == {world.manager}
    assert [x["kind"] for x in got["history"]].count("rescheduled") == 1
    assert [x["kind"] for x in got["history"]].count("reassigned") == 1
    comments = (await maint.client.get(f"/v1/requests/{rid}/comments", headers=h)).json()
    assert comments["meta"]["total"] == 1 and comments["data"][0]["body"] == "Parts ordered"
    assert comments["data"][0]["author_id"] == world.manager


async def test_idempotency_key_replays_create(maint: ServiceHarness, world: World) -> None:
    h = {**maint.headers(org_id=world.org), "Idempotency-Key": "create-1"}
    first = ok(await maint.client.post("/v1/requests", json=request_body(world), headers=h), 201)
    again = ok(await maint.client.post("/v1/requests", json=request_body(world), headers=h), 201)
    assert first["id"] == again["id"] and await count_rows(maint, world.org) == 1
    problem(await maint.client.post("/v1/requests", json=request_body(world, title="other"), headers=h), 422)


BAD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("unknown category", {"category": "roofing"}),
    ("unknown priority", {"priority": "urgent"}),
    ("unknown source", {"source": "robot"}),
    ("window end before start", {"scheduled_window": {"start": "2030-01-01T10:00:00Z", "end": "2030-01-01T09:00:00Z"}}),
    ("window without offset", {"scheduled_window": {"start": "2030-01-01T10:00:00", "end": "2030-01-01T11:00:00"}}),
    ("non-http attachment", {"attachments": ["javascript:alert(1)"]}),
    ("ftp attachment", {"attachments": ["ftp://files.example.com/a.jpg"]}),
    ("NUL in title", {"title": "bad\x00title"}),
    ("empty title", {"title": ""}),
    ("huge description", {"description": "x" * 10_001}),
    ("malformed building id", {"building_id": "bld_../../etc"}),
    ("unknown field", {"color": "red"}),
    ("wrong type", {"permission_to_enter": "maybe"}),
]


async def test_bad_create_is_a_problem_and_writes_nothing(maint: ServiceHarness, world: World) -> None:
    for case, over in BAD_BODIES:
        body = problem(await maint.client.post("/v1/requests", json=request_body(world, **over),
                                               headers=maint.headers(org_id=world.org)), 422)
        assert body["errors"], case
        if case.startswith("unknown ") and case != "unknown field":
            assert body["errors"][0]["allowed"], case
    assert await count_rows(maint, world.org) == 0


async def test_references_are_checked(maint: ServiceHarness, world: World, producer: AIOKafkaProducer,
                                      infra: Infra) -> None:
    h = maint.headers(org_id=world.org)
    other = await make_world(maint, producer, new_id("org"))
    async with EventReader(infra.kafka_bootstrap, "maintenance.events") as reader:
        cases: list[tuple[dict[str, Any], str]] = [({"building_id": other.building, "unit_id": None}, "building_id"),
                 ({"unit_id": other.unit}, "unit_id"),
                 ({"assignee_id": world.manager}, "assignee_id"),  # a member, but not a technician
                 ({"assignee_id": other.tech}, "assignee_id")]    # another org's technician
        for over, field in cases:
            p = problem(await maint.client.post("/v1/requests", json=request_body(world, **over), headers=h), 422)
            assert p["errors"][0]["field"] == field
        req = await mk_request(maint, world)
        p = problem(await maint.client.post(f"/v1/requests/{req['id']}/assign", json={"assignee_id": other.tech},
                                            headers=h), 422)
        p = problem(await maint.client.post(f"/v1/requests/{req['id']}/comments", json={"body": "x" * 10_001},
                                            headers=h), 422)
        problem(await maint.client.patch(f"/v1/requests/{req['id']}", json={"attachments": ["file:///etc/passwd"]},
                                         headers=h), 422)
        problem(await maint.client.patch(f"/v1/requests/{req['id']}", json={"title": None}, headers=h), 422)
        problem(await maint.client.post(f"/v1/requests/{req['id']}/reschedule", json={"scheduled_window": {
            "start": "2030-01-01T10:00:00Z", "end": "2030-01-01T10:00:00Z"}}, headers=h), 422)
        # the only event of this org is the one good request's creation
        marker = await mk_request(maint, world)
        await reader.wait_for(lambda k, e: e.subject == marker["id"], timeout=20)
    mine = [e.type for _, e in reader.seen if e.orgid == world.org]
    assert mine == ["hearth.request.created.v1", "hearth.request.created.v1"]
    assert await count_rows(maint, world.org) == 2
    assert await count_rows(maint, world.org, "request_comments") == 0


async def test_a_building_projected_a_moment_later_is_waited_for(maint: ServiceHarness, world: World,
                                                                  producer: AIOKafkaProducer) -> None:
    building_id = new_id("bld")

    async def publish_soon() -> None:
        await asyncio.sleep(0.2)
        from hearth_contracts.common import Address
        from hearth_contracts.property import BuildingCreated
        from maint_helpers import NOW, produce
        await produce(producer, BuildingCreated(
            building_id=building_id, org_id=world.org, name="Fresh", type="residential",
            address=Address(line1="1 New St", city="Oslo", country="NO"), timezone="UTC", status="active",
            created_at=NOW, updated_at=NOW), subject=building_id, org_id=world.org)

    task = asyncio.create_task(publish_soon())
    resp = await maint.client.post("/v1/requests", json=request_body(world, building_id=building_id, unit_id=None),
                                   headers=maint.headers(org_id=world.org))
    await task
    assert ok(resp, 201)["building_id"] == building_id


async def test_closed_requests_cannot_be_edited_or_rescheduled(maint: ServiceHarness, world: World) -> None:
    h = maint.headers(org_id=world.org)
    req = await mk_request(maint, world)
    ok(await maint.client.post(f"/v1/requests/{req['id']}/cancel", headers=h))
    problem(await maint.client.patch(f"/v1/requests/{req['id']}", json={"title": "New"}, headers=h), 409)
    problem(await maint.client.post(f"/v1/requests/{req['id']}/reschedule", json={"scheduled_window": {
        "start": "2030-01-01T10:00:00Z", "end": "2030-01-01T11:00:00Z"}}, headers=h), 409)
