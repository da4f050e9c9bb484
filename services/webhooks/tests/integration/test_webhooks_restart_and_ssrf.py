"""A worker killed mid-delivery loses nothing (same webhook-id next time); addresses are checked at connect time."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from hearth_kit.ids import new_id
from hearth_kit.testing import Infra
from hearth_kit.testing.plugin import unique_schema
from hearth_webhooks import repository
from standardwebhooks.webhooks import Webhook
from webhooks_helpers import (
    Receiver,
    alert_event,
    deliveries,
    mk_endpoint,
    produce,
    unique_path,
    wait_deliveries,
    webhooks_service,
)

pytestmark = pytest.mark.integration


async def test_killed_mid_delivery_then_restarted_delivers_with_the_same_webhook_id(
        infra: Infra, receiver: Receiver, producer: AIOKafkaProducer, org_id: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    schema = unique_schema("webhooks")
    path = unique_path()
    receiver.plans[path] = lambda n: (200, {}, 30.0 if n == 1 else 0.0)  # the first attempt hangs
    # A hard kill gets no chance to hand its claims back: the lease must bring them back.
    async def no_release(*_a: object, **_k: object) -> None:
        return None

    monkeypatch.setattr(repository, "release", no_release)
    async with webhooks_service(infra, schema=schema, HEARTH_WEBHOOKS_CLAIM_LEASE_SECONDS="2") as first:
        endpoint = await mk_endpoint(first, org_id, receiver.url(path))
        events = [alert_event(org_id) for _ in range(3)]
        for _, sensor, payload in events:
            await produce(producer, payload, key=sensor)
        await receiver.wait(path, 1)
    async with webhooks_service(infra, schema=schema, HEARTH_WEBHOOKS_CLAIM_LEASE_SECONDS="2") as second:
        ds = await wait_deliveries(second, org_id, endpoint["id"],
                                   lambda ds: len(ds) == 3 and all(d["status"] == "succeeded" for d in ds))
        got = receiver.at(path)
        by_id: dict[str, int] = {}
        for r in got:
            by_id[r.headers["webhook-id"]] = by_id.get(r.headers["webhook-id"], 0) + 1
            Webhook(endpoint["secret"]).verify(r.body, r.headers)  # the secret survived the restart (sealed)
        assert set(by_id) == {d["id"] for d in ds}  # nothing lost
        assert sorted(by_id.values())[-1] == 2  # the interrupted one came again, with its webhook-id
        assert {r.event["id"] for r in got} == {e[0] for e in events}


async def test_a_name_resolving_to_loopback_is_refused_when_loopback_is_not_allowlisted(
        infra: Infra, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    path = unique_path()
    async with webhooks_service(infra, allowlist=[]) as hooks:
        for url in (receiver.url(path, host="localhost"), receiver.url(path)):
            resp = await hooks.client.post("/v1/webhooks/endpoints", json={"url": url},
                                           headers=hooks.headers(org_id=org_id))
            assert resp.status_code == 422, resp.text
            assert "not allowed" in resp.json()["detail"]
        # Saved before the name pointed inside (DNS rebinding): the connection itself is refused.
        endpoint_id = new_id("whep")
        async with hooks.raw(org_id=org_id) as conn:
            await conn.execute(
                "INSERT INTO endpoints (id, org_id, url, event_types, secret) VALUES ($1, $2, $3, '{*}', $4)",
                endpoint_id, org_id, receiver.url(path, host="localhost"), "whsec_" + "A" * 44)
            await conn.execute(
                "INSERT INTO endpoints (id, org_id, url, event_types, secret) VALUES ($1, $2, $3, '{*}', $4)",
                new_id("whep"), org_id, receiver.url(path), "whsec_" + "A" * 44)
        _, sensor, payload = alert_event(org_id)
        await produce(producer, payload, key=sensor)
        (delivery,) = await wait_deliveries(hooks, org_id, endpoint_id, lambda ds: bool(ds and ds[0]["attempt_log"]))
        attempt = delivery["attempt_log"][0]
        assert attempt["status_code"] is None and "not allowed" in attempt["error"]
        await asyncio.sleep(0.3)
        assert receiver.at(path) == []  # neither the name nor the literal address was ever dialled
        assert len(await deliveries(hooks, org_id, endpoint_id)) == 1


async def test_http_is_refused_outside_dev(infra: Infra, org_id: str) -> None:
    async with webhooks_service(infra, HEARTH_WEBHOOKS_ALLOW_HTTP="false") as hooks:
        resp = await hooks.client.post("/v1/webhooks/endpoints", json={"url": "http://127.0.0.1:9/x"},
                                       headers=hooks.headers(org_id=org_id))
        assert resp.status_code == 422 and "https" in resp.json()["detail"]
