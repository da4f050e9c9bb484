"""Rotation, 410, auto-disable with a fact, test pings, the delivery log, retry and replay, per-endpoint limits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from hearth_contracts.topics import WEBHOOKS_EVENTS
from hearth_kit.ids import new_id
from hearth_kit.testing import EventReader, Infra, ServiceHarness
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from webhooks_helpers import (
    Receiver,
    alert_event,
    always,
    deliveries,
    mk_endpoint,
    produce,
    unique_path,
    wait_deliveries,
)

pytestmark = pytest.mark.integration
BASE = "/v1/webhooks"


async def _endpoint(h: ServiceHarness, org: str, endpoint_id: str) -> dict[str, object]:
    resp = await h.client.get(f"{BASE}/endpoints/{endpoint_id}", headers=h.headers(org_id=org))
    data: dict[str, object] = resp.json()["data"]
    return data


async def test_rotation_signs_with_both_secrets_during_the_overlap(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(path))
    old = endpoint["secret"]
    rotated = await hooks.client.post(f"{BASE}/endpoints/{endpoint['id']}/rotate-secret",
                                      headers=hooks.headers(org_id=org_id))
    assert rotated.status_code == 200
    new = rotated.json()["data"]["secret"]
    assert new != old and new.startswith("whsec_") and rotated.json()["data"]["secret_rotated_at"]
    _, sensor, payload = alert_event(org_id)
    await produce(producer, payload, key=sensor)
    (got,) = await receiver.wait(path, 1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)  # partners still on the old secret keep verifying
    Webhook(new).verify(got.body, got.headers)
    # once the overlap is over only the new secret signs
    async with hooks.raw(org_id=org_id) as conn:
        await conn.execute("UPDATE endpoints SET previous_secret_until = now() - interval '1 second'")
    _, sensor2, payload2 = alert_event(org_id)
    await produce(producer, payload2, key=sensor2)
    _, later = await receiver.wait(path, 2)
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(later.body, later.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(later.body, later.headers)


async def test_410_disables_the_endpoint_and_says_so(
        hooks: ServiceHarness, infra: Infra, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    receiver.plans[path] = always(410)
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(path))
    async with EventReader(infra.kafka_bootstrap, WEBHOOKS_EVENTS.name) as reader:
        _, sensor, payload = alert_event(org_id)
        await produce(producer, payload, key=sensor)
        ((key, fact),) = await reader.wait_for(lambda _k, e: e.subject == endpoint["id"])
    assert fact.type == "hearth.webhook_endpoint.disabled.v1" and fact.orgid == org_id
    assert fact.data["reason"] == "gone" and key == endpoint["id"].encode()
    assert len(receiver.at(path)) == 1  # no retries after 410
    data = await _endpoint(hooks, org_id, endpoint["id"])
    assert (data["status"], data["disabled_reason"]) == ("disabled", "gone")
    (delivery,) = await deliveries(hooks, org_id, endpoint["id"])
    assert delivery["status"] == "failed"
    # nothing more goes to a disabled endpoint
    _, s2, p2 = alert_event(org_id)
    await produce(producer, p2, key=s2)
    await asyncio.sleep(0.5)
    assert len(receiver.at(path)) == 1


async def test_an_endpoint_failing_for_five_days_is_disabled_and_comes_back_when_enabled(
        hooks: ServiceHarness, infra: Infra, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    failing = True
    receiver.plans[path] = lambda _n: (500 if failing else 200, {}, 0.0)
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(path))
    async with hooks.raw(org_id=org_id) as conn:  # it has been failing since before the 5-day mark
        await conn.execute("UPDATE endpoints SET failing_since = now() - interval '5 days 1 minute'")
    async with EventReader(infra.kafka_bootstrap, WEBHOOKS_EVENTS.name) as reader:
        _, sensor, payload = alert_event(org_id)
        await produce(producer, payload, key=sensor)
        ((_, fact),) = await reader.wait_for(lambda _k, e: e.subject == endpoint["id"])
    assert fact.data["reason"] == "failing" and fact.data["failing_since"] is not None
    data = await _endpoint(hooks, org_id, endpoint["id"])
    assert (data["status"], data["disabled_reason"]) == ("disabled", "failing")
    (delivery,) = await deliveries(hooks, org_id, endpoint["id"])
    assert delivery["status"] == "pending"  # kept, and sent once the partner turns the endpoint back on
    failing = False
    resp = await hooks.client.patch(f"{BASE}/endpoints/{endpoint['id']}", json={"status": "enabled"},
                                    headers=hooks.headers(org_id=org_id))
    assert resp.json()["data"]["failing_since"] is None
    await wait_deliveries(hooks, org_id, endpoint["id"], lambda ds: ds[0]["status"] == "succeeded")


async def test_ping_log_retry_and_filters(hooks: ServiceHarness, receiver: Receiver, org_id: str) -> None:
    path = unique_path()
    receiver.plans[path] = lambda n: (500 if n <= 4 else 200, {}, 0.0)
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(path), event_types=["hearth.lease.*"])
    h = hooks.headers(org_id=org_id)
    ping = await hooks.client.post(f"{BASE}/endpoints/{endpoint['id']}/test", headers=h)
    assert ping.status_code == 202
    delivery_id = ping.json()["data"]["id"]
    (failed,) = await wait_deliveries(hooks, org_id, endpoint["id"], lambda ds: ds[0]["status"] == "failed")
    assert len(failed["attempt_log"]) == 4 and failed["event_type"] == "hearth.webhook_endpoint.ping.v1"
    assert all(a["latency_ms"] >= 0 and a["response_excerpt"].startswith("answer") for a in failed["attempt_log"])
    assert receiver.at(path)[0].event["type"] == "hearth.webhook_endpoint.ping.v1"
    retried = await hooks.client.post(f"{BASE}/deliveries/{delivery_id}/retry", headers=h)
    assert retried.status_code == 202 and retried.json()["data"]["status"] == "pending"
    assert (await hooks.client.post(f"{BASE}/deliveries/{delivery_id}/retry", headers=h)).status_code in (202, 409)
    await wait_deliveries(hooks, org_id, endpoint["id"], lambda ds: ds[0]["status"] == "succeeded")
    got = receiver.at(path)
    assert {r.headers["webhook-id"] for r in got} == {delivery_id}
    assert await deliveries(hooks, org_id, endpoint["id"], status="failed") == []
    assert len(await deliveries(hooks, org_id, endpoint["id"], status="succeeded")) == 1
    assert await deliveries(hooks, org_id, endpoint["id"], event_type="hearth.lease.ended.v1") == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await deliveries(hooks, org_id, endpoint["id"], since=future) == []


async def test_replay_by_sequence_and_by_time_keeps_webhook_ids(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(path))
    h = hooks.headers(org_id=org_id)
    for _ in range(3):
        _, sensor, payload = alert_event(org_id)
        await produce(producer, payload, key=sensor)
    first_round = await receiver.wait(path, 3)
    ids = {int(r.headers["hearth-webhook-sequence"]): r.headers["webhook-id"] for r in first_round}
    assert sorted(ids) == [1, 2, 3]
    await wait_deliveries(hooks, org_id, endpoint["id"], lambda ds: all(d["status"] == "succeeded" for d in ds))
    resp = await hooks.client.post(f"{BASE}/endpoints/{endpoint['id']}/replay", json={"from_sequence": 2}, headers=h)
    assert resp.status_code == 202 and resp.json()["data"]["queued"] == 2
    replayed = (await receiver.wait(path, 5))[3:]
    assert sorted((int(r.headers["hearth-webhook-sequence"]), r.headers["webhook-id"]) for r in replayed) == [
        (2, ids[2]), (3, ids[3])]
    await wait_deliveries(hooks, org_id, endpoint["id"], lambda ds: all(d["status"] == "succeeded" for d in ds))
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    resp = await hooks.client.post(f"{BASE}/endpoints/{endpoint['id']}/replay", json={"since": since}, headers=h)
    assert resp.json()["data"]["queued"] == 3
    again = (await receiver.wait(path, 8))[5:]
    assert {r.headers["webhook-id"] for r in again} == set(ids.values())


async def test_a_slow_endpoint_does_not_hold_back_another(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    slow, fast = unique_path(), unique_path()
    receiver.plans[slow] = always(200, delay=2.5)
    await mk_endpoint(hooks, org_id, receiver.url(slow), max_concurrency=2)
    await mk_endpoint(hooks, org_id, receiver.url(fast))
    for _ in range(20):
        _, sensor, payload = alert_event(org_id)
        await produce(producer, payload, key=sensor)
    await receiver.wait(fast, 20)
    assert len(receiver.at(slow)) <= 4  # the slow one is still working through its first requests


async def test_rate_limit_paces_an_endpoint(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    await mk_endpoint(hooks, org_id, receiver.url(path), rate_limit=4)
    for _ in range(10):
        _, sensor, payload = alert_event(org_id)
        await produce(producer, payload, key=sensor)
    got = await receiver.wait(path, 10)
    assert got[-1].at - got[0].at >= 1.2  # 10 at 4/s with a burst of 4: at least 1.5 s of pacing


async def test_deleting_an_endpoint_stops_its_deliveries(
        hooks: ServiceHarness, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    receiver.plans[path] = always(500)
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(path))
    _, sensor, payload = alert_event(org_id)
    await produce(producer, payload, key=sensor)
    await receiver.wait(path, 1)
    assert (await hooks.client.delete(f"{BASE}/endpoints/{endpoint['id']}",
                                      headers=hooks.headers(org_id=org_id))).status_code == 204
    seen = len(receiver.at(path))
    await asyncio.sleep(0.8)
    assert len(receiver.at(path)) <= seen + 1  # at most the attempt already in flight
    assert new_id("org")  # (other orgs untouched: see the isolation tests)
