"""Every (from, to) pair of the lifecycle, through PATCH and through the actions: legal moves happen with their
history; illegal ones are 409 problems listing the allowed next states and change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hearth_kit.testing import ServiceHarness
from hearth_maintenance.domain import LIFECYCLE, STATUSES, allowed_next
from maint_helpers import World, make_world, mk_request, ok, problem

pytestmark = pytest.mark.integration

PAIRS = [(a, b) for a in STATUSES for b in STATUSES if a != b]
# How to walk a fresh request into each state (actions, from new).
PATH_TO: dict[str, list[str]] = {
    "new": [], "assigned": ["assign"], "in_progress": ["assign", "start"],
    "on_hold": ["assign", "start", "hold"], "done": ["assign", "start", "complete"], "canceled": ["cancel"],
}


def action_for(current: str, target: str) -> str:
    return {"new": "reopen" if current == "done" else "unassign", "assigned": "assign",
            "in_progress": "resume" if current == "on_hold" else "start", "on_hold": "hold",
            "done": "complete", "canceled": "cancel"}[target]


@pytest.fixture(scope="module")
async def world(maint: ServiceHarness, producer: AIOKafkaProducer) -> World:
    from hearth_kit.ids import new_id
    return await make_world(maint, producer, new_id("org"))


async def request_in(h: ServiceHarness, w: World, state: str) -> dict[str, Any]:
    req = await mk_request(h, w)
    for action in PATH_TO[state]:
        body = {"assignee_id": w.tech} if action == "assign" else {}
        req = ok(await h.client.post(f"/v1/requests/{req['id']}/{action}", json=body, headers=h.headers(org_id=w.org)))
    assert req["status"] == state
    return req


async def check(h: ServiceHarness, w: World, req: dict[str, Any], resp: Any, current: str, target: str) -> None:
    after = ok(await h.client.get(f"/v1/requests/{req['id']}", headers=h.headers(org_id=w.org)))
    if target in LIFECYCLE[current]:
        moved = ok(resp)
        assert moved["status"] == after["status"] == target
        last = after["history"][-1]
        assert (last["kind"], last["from"], last["to"]) == ("status_changed", current, target)
        assert last["reason"] == "table test"
        if target == "new":
            assert after["assignee_id"] is None
        if current == "done":
            assert after["reopen_count"] == 1
    else:
        body = problem(resp, 409)
        assert body["allowed_next"] == allowed_next(current)
        assert after["status"] == current
        assert after["updated_at"] == req["updated_at"]


@pytest.mark.parametrize(("current", "target"), PAIRS)
async def test_every_pair_through_patch(maint: ServiceHarness, world: World, current: str, target: str) -> None:
    req = await request_in(maint, world, current)
    body: dict[str, Any] = {"status": target, "reason": "table test"}
    if target == "assigned":
        body["assignee_id"] = world.tech2
    resp = await maint.client.patch(f"/v1/requests/{req['id']}", json=body, headers=maint.headers(org_id=world.org))
    await check(maint, world, req, resp, current, target)


@pytest.mark.parametrize(("current", "target"), PAIRS)
async def test_every_pair_through_actions(maint: ServiceHarness, world: World, current: str, target: str) -> None:
    req = await request_in(maint, world, current)
    action = action_for(current, target)
    body: dict[str, Any] = {"reason": "table test"}
    if action == "assign":
        body["assignee_id"] = world.tech2
    resp = await maint.client.post(f"/v1/requests/{req['id']}/{action}", json=body,
                                   headers=maint.headers(org_id=world.org))
    await check(maint, world, req, resp, current, target)


async def test_reopen_and_unassign_apply_only_to_their_state(maint: ServiceHarness, world: World) -> None:
    assigned = await request_in(maint, world, "assigned")
    p = problem(await maint.client.post(f"/v1/requests/{assigned['id']}/reopen", json={},
                                        headers=maint.headers(org_id=world.org)), 409)
    assert p["allowed_next"] == ["new", "in_progress", "canceled"]
    done = await request_in(maint, world, "done")
    problem(await maint.client.post(f"/v1/requests/{done['id']}/unassign", headers=maint.headers(org_id=world.org)),
            409)


async def test_assigned_needs_an_assignee(maint: ServiceHarness, world: World) -> None:
    req = await request_in(maint, world, "new")
    p = problem(await maint.client.patch(f"/v1/requests/{req['id']}", json={"status": "assigned"},
                                         headers=maint.headers(org_id=world.org)), 422)
    assert p["errors"][0]["field"] == "assignee_id"


async def test_same_status_patch_changes_nothing(maint: ServiceHarness, world: World) -> None:
    req = await request_in(maint, world, "in_progress")
    after = ok(await maint.client.patch(f"/v1/requests/{req['id']}", json={"status": "in_progress"},
                                        headers=maint.headers(org_id=world.org)))
    assert after["status"] == "in_progress" and after["updated_at"] == req["updated_at"]
