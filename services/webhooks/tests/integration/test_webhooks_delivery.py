"""Events produced to the real topics reach the org's endpoints: signed, retried, ordered, isolated."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from hearth_kit.ids import new_id
from hearth_kit.testing import ServiceHarness
from standardwebhooks.webhooks import Webhook
from webhooks_helpers import (
    Receiver,
    alert_event,
    always,
    failing_first,
    mk_endpoint,
    produce,
    unique_path,
    wait_deliveries,
)

pytestmark = pytest.mark.integration


async def test_an_event_is_delivered_signed_unchanged_with_standard_headers(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(path), event_types=["hearth.alert.*"])
    event_id, sensor, payload = alert_event(org_id)
    await produce(producer, payload, key=sensor)
    (got,) = await receiver.wait(path, 1)
    assert got.body == payload  # the CloudEvent exactly as published
    assert got.event["id"] == event_id and got.event["orgid"] == org_id
    assert Webhook(endpoint["secret"]).verify(got.body, got.headers)["type"] == "hearth.alert.raised.v1"
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.headers["hearth-webhook-sequence"] == "1"
    assert got.headers["content-type"] == "application/json"
    (delivery,) = await wait_deliveries(hooks, org_id, endpoint["id"],
                                        lambda ds: bool(ds) and ds[0]["status"] == "succeeded")
    assert delivery["id"] == got.headers["webhook-id"] and delivery["event_id"] == event_id
    assert delivery["attempt_log"][0]["status_code"] == 200
    assert delivery["attempt_log"][0]["response_excerpt"] == f"answer 1 to {path}"


async def test_the_same_event_twice_is_delivered_once(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(path))
    _, sensor, payload = alert_event(org_id)
    await produce(producer, payload, key=sensor)
    await produce(producer, payload, key=sensor)
    marker_path = unique_path()  # a later event proves the duplicate was consumed before we look
    await mk_endpoint(hooks, org_id, receiver.url(marker_path))
    _, s2, p2 = alert_event(org_id, sensor_id=sensor)
    await produce(producer, p2, key=s2)
    await receiver.wait(marker_path, 1)
    await receiver.wait(path, 2)
    assert len(receiver.at(path)) == 2  # the first event once, the marker event once
    assert len(await wait_deliveries(hooks, org_id, endpoint["id"], lambda ds: len(ds) == 2)) == 2


async def test_only_the_orgs_own_endpoints_and_subscribed_types_receive(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    other_org = new_id("org")
    mine, theirs, leases = unique_path(), unique_path(), unique_path()
    await mk_endpoint(hooks, org_id, receiver.url(mine), event_types=["*"])
    await mk_endpoint(hooks, other_org, receiver.url(theirs), event_types=["*"])
    await mk_endpoint(hooks, org_id, receiver.url(leases), event_types=["hearth.lease.*"])
    _, sensor, payload = alert_event(org_id)
    await produce(producer, payload, key=sensor)
    _, s2, p2 = alert_event(other_org)
    await produce(producer, p2, key=s2)
    (mine_got,) = await receiver.wait(mine, 1)
    (theirs_got,) = await receiver.wait(theirs, 1)
    assert mine_got.event["orgid"] == org_id and theirs_got.event["orgid"] == other_org
    await asyncio.sleep(0.3)
    assert len(receiver.at(mine)) == 1 and len(receiver.at(theirs)) == 1
    assert receiver.at(leases) == []


async def test_failures_are_retried_with_the_same_webhook_id(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    receiver.plans[path] = failing_first(2)
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(path))
    _, sensor, payload = alert_event(org_id)
    await produce(producer, payload, key=sensor)
    got = await receiver.wait(path, 3)
    assert len({r.headers["webhook-id"] for r in got}) == 1
    (delivery,) = await wait_deliveries(hooks, org_id, endpoint["id"],
                                        lambda ds: bool(ds) and ds[0]["status"] == "succeeded")
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 200]
    assert delivery["attempts"] == 3
    assert (await hooks.client.get(f"/v1/webhooks/endpoints/{endpoint['id']}",
                                   headers=hooks.headers(org_id=org_id))).json()["data"]["failing_since"] is None


async def test_retries_stop_after_the_schedule_and_redirects_are_failures(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    receiver.plans[path] = always(302, {"location": receiver.url("/elsewhere")})
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(path))
    _, sensor, payload = alert_event(org_id)
    await produce(producer, payload, key=sensor)
    (delivery,) = await wait_deliveries(hooks, org_id, endpoint["id"],
                                        lambda ds: bool(ds) and ds[0]["status"] == "failed")
    assert [a["status_code"] for a in delivery["attempt_log"]] == [302] * 4  # 1 + the test schedule's 3 retries
    assert receiver.at("/elsewhere") == []
    got = await hooks.client.get(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=hooks.headers(org_id=org_id))
    assert got.json()["data"]["failing_since"] is not None


async def test_retry_after_is_honoured(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    receiver.plans[path] = lambda n: (429, {"retry-after": "1"}, 0.0) if n == 1 else (200, {}, 0.0)
    await mk_endpoint(hooks, org_id, receiver.url(path))
    _, sensor, payload = alert_event(org_id)
    await produce(producer, payload, key=sensor)
    first, second = await receiver.wait(path, 2)
    assert second.at - first.at >= 0.95  # not the 0.1 s of the test schedule


async def test_an_ordered_endpoint_holds_back_only_the_failing_subject(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    stuck_sensor, free_sensor = new_id("sen"), new_id("sen")
    attempts_of_first = 0

    def plan(n: int) -> tuple[int, dict[str, str], float]:
        nonlocal attempts_of_first
        last = receiver.at(path)[-1]
        if last.event["subject"] == stuck_sensor and int(last.event["sequence"]) == 1:
            attempts_of_first += 1
            return (500 if attempts_of_first <= 2 else 200), {}, 0.0
        return 200, {}, 0.0

    receiver.plans[path] = plan
    await mk_endpoint(hooks, org_id, receiver.url(path), ordered=True)
    for seq in (1, 2, 3):
        _, _, payload = alert_event(org_id, sensor_id=stuck_sensor, sequence=seq)
        await produce(producer, payload, key=stuck_sensor)
    _, _, free_payload = alert_event(org_id, sensor_id=free_sensor)
    await produce(producer, free_payload, key=free_sensor)
    got = await receiver.wait(path, 6)
    order = [(r.event["subject"], int(r.event["sequence"])) for r in got]
    stuck = [seq for subject, seq in order if subject == stuck_sensor]
    assert stuck == [1, 1, 1, 2, 3]  # later events of the subject waited for the first
    # the other subject was not held back behind the failing one
    assert order.index((free_sensor, 1)) < order.index((stuck_sensor, 2))


async def test_a_receiver_down_for_a_while_gets_everything_in_order_per_subject(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    down = True
    receiver.plans[path] = lambda n: (503 if down else 200, {}, 0.0)
    await mk_endpoint(hooks, org_id, receiver.url(path), ordered=True)
    sensors = [new_id("sen") for _ in range(3)]
    for seq in range(1, 5):
        for sensor in sensors:
            _, _, payload = alert_event(org_id, sensor_id=sensor, sequence=seq)
            await produce(producer, payload, key=sensor)
    await receiver.wait(path, 6)
    down = False
    async def all_in() -> bool:
        return len({(r.event["subject"], r.event["sequence"]) for r in receiver.at(path) if r.headers}) >= 12
    from hearth_kit.messaging import wait_for
    assert await wait_for(all_in, timeout=15)
    for sensor in sensors:
        firsts: list[int] = []
        for r in receiver.at(path):
            if r.event["subject"] == sensor and int(r.event["sequence"]) not in firsts:
                firsts.append(int(r.event["sequence"]))
        assert firsts == [1, 2, 3, 4]
