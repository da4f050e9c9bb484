"""Per-endpoint limits hold across replicas; the delivery log is pruned after its retention."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from asgi_lifespan import LifespanManager
from hearth_kit.testing import Infra, ServiceHarness
from hearth_kit.testing.plugin import unique_schema
from hearth_webhooks.main import build_app
from hearth_webhooks.retention import prune
from webhooks_helpers import (
    Receiver,
    alert_event,
    always,
    mk_endpoint,
    produce,
    unique_path,
    wait_deliveries,
    webhooks_service,
)

pytestmark = pytest.mark.integration
BASE = "/v1/webhooks"


async def test_concurrency_and_rate_limits_hold_across_two_replicas(
        infra: Infra, receiver: Receiver, producer: AIOKafkaProducer, org_id: str) -> None:
    schema = unique_schema("webhooks")
    slow, paced = unique_path(), unique_path()
    answer_after = 0.4
    receiver.plans[slow] = always(200, delay=answer_after)
    async with webhooks_service(infra, schema=schema) as one, LifespanManager(build_app()):
        # (the second replica: a second app on the same schema and settings, in this process)
        await mk_endpoint(one, org_id, receiver.url(slow), max_concurrency=2)
        await mk_endpoint(one, org_id, receiver.url(paced), rate_limit=5)
        for _ in range(12):
            _, sensor, payload = alert_event(org_id)
            await produce(producer, payload, key=sensor)
        got_slow = await receiver.wait(slow, 12, timeout=30)
        got_paced = await receiver.wait(paced, 12, timeout=30)
    # Each request is answered `answer_after` after it arrived: count those still open at each arrival.
    # Per-replica limits would let both replicas hold 2 each (4 at once).
    starts = [r.at for r in got_slow]
    assert max(sum(1 for s in starts if s <= t < s + answer_after) for t in starts) <= 2
    # 12 at 5 per one-second window take three windows, whichever replica claims them (per replica: one).
    assert got_paced[-1].at - got_paced[0].at >= 1.9


async def test_retention_prunes_old_attempts_finished_deliveries_and_their_events(
        hooks: ServiceHarness, receiver: Receiver, org_id: str) -> None:
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(unique_path()))
    headers = hooks.headers(org_id=org_id)
    for _ in range(2):
        assert (await hooks.client.post(f"{BASE}/endpoints/{endpoint['id']}/test", headers=headers)).status_code \
            == 202
    done = await wait_deliveries(hooks, org_id, endpoint["id"],
                                 lambda ds: len(ds) == 2 and all(d["status"] == "succeeded" for d in ds))
    old, recent = done[1], done[0]  # (newest first)
    async with hooks.raw(org_id=org_id) as conn:
        await conn.execute("UPDATE attempts SET attempted_at = now() - interval '31 days' WHERE delivery_id = $1",
                           old["id"])
        await conn.execute("UPDATE deliveries SET updated_at = now() - interval '31 days' WHERE id = $1", old["id"])
        await conn.execute("UPDATE events SET received_at = now() - interval '31 days' WHERE id = $1",
                           old["event_id"])
        # a pending delivery is never pruned, however old
        await conn.execute("UPDATE deliveries SET status = 'pending', next_attempt_at = now() + interval '1 day',"
                           " updated_at = now() - interval '31 days' WHERE id = $1", recent["id"])
        await conn.execute("UPDATE events SET received_at = now() - interval '31 days' WHERE id = $1",
                           recent["event_id"])

    pruned = await prune(hooks.app.state.runtime.db, days=30)

    assert pruned.attempts >= 1 and pruned.deliveries >= 1 and pruned.events >= 1
    async with hooks.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM attempts WHERE delivery_id = $1", old["id"]) == 0
        left = await conn.fetch("SELECT id FROM deliveries WHERE endpoint_id = $1", endpoint["id"])
        assert [r["id"] for r in left] == [recent["id"]]
        assert await conn.fetchval("SELECT count(*) FROM events WHERE id = $1", old["event_id"]) == 0
        assert await conn.fetchval("SELECT count(*) FROM events WHERE id = $1", recent["event_id"]) == 1
        assert await conn.fetchval("SELECT count(*) FROM attempts WHERE delivery_id = $1", recent["id"]) == 1
