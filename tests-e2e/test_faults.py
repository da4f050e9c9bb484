"""Faults under traffic, against the running e2e platform: Postgres stopped and started, Kafka stopped.

These stop and start the platform's own infra (deploy/local/postgres.sh and kafka.sh with the run
directory scripts/test.sh exported), so they run only when HEARTH_E2E_FAULTS=1 says that infra is ours
to stop. Each test restores the infra in `finally` and waits until the platform answers again; the
conftest also orders them after every other e2e test.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from hearth_contracts.envelope import parse_cloudevent
from hearth_contracts.topics import PROPERTY_EVENTS, Topic

from conftest import bearer, new_org

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

REPO = Path(__file__).resolve().parents[1]
BUILDING = {"name": "Fault Tower", "type": "residential", "timezone": "UTC",
            "address": {"line1": "1 Fault Line", "city": "Berlin", "country": "DE"}}


def infra(script: str, action: str) -> None:
    """Run deploy/local/<script> on the platform's own infra (not an external database or broker)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HEARTH_DATABASE_URL", "HEARTH_KAFKA_BOOTSTRAP")}
    patience = int(os.environ.get("HEARTH_READY_TIMEOUT", "90")) + 30  # the scripts' own readiness wait
    subprocess.run(["bash", str(REPO / "deploy" / "local" / script), action], env=env, check=True,
                   capture_output=True, timeout=patience)


@pytest.fixture(autouse=True)
def _faults_enabled() -> None:
    if os.environ.get("HEARTH_E2E_FAULTS") != "1":
        pytest.skip("fault tests stop the platform's infra: run them through scripts/test.sh (HEARTH_E2E_FAULTS=1)")


async def until(check: Any, *, timeout: float, what: str) -> None:
    """Poll `check()` (async, truthy when done) until it holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.25)


def assert_unavailable(resp: httpx.Response) -> None:
    """What an outage may look like to a caller: a 503 problem with Retry-After, never a 500."""
    assert resp.status_code == 503, (resp.status_code, resp.text)
    assert resp.headers["content-type"] == "application/problem+json"
    assert int(resp.headers["retry-after"]) > 0


async def test_postgres_down_is_503_with_retry_after_then_recovers_without_restarts(
    gw: httpx.AsyncClient, demo: dict[str, Any],
) -> None:
    # Enterprise: no rate-limit counter on the way, so calls reach the property service itself.
    org = await new_org(gw, demo, plan="enterprise")
    h = bearer(org["key"])
    assert (await gw.post("/v1/buildings", json=BUILDING, headers=h)).status_code == 201
    limited = bearer((await new_org(gw, demo, plan="professional"))["key"])  # counted in Postgres
    assert (await gw.get("/v1/buildings", headers=limited)).status_code == 200
    answers: list[httpx.Response] = []
    infra("postgres.sh", "stop")
    try:
        for _ in range(10):
            answers.append(await gw.get("/v1/buildings", headers=h))
            answers.append(await gw.post("/v1/buildings", json=BUILDING, headers=h))
            answers.append(await gw.get("/v1/buildings", headers=limited))
        for resp in answers:
            assert_unavailable(resp)
        assert any(r.json()["type"].endswith("/database-unavailable") for r in answers)
    finally:
        infra("postgres.sh", "start")

    async def writes_again() -> bool:
        resp = await gw.post("/v1/buildings", json=BUILDING, headers=h)
        assert resp.status_code in (201, 503), resp.text
        return resp.status_code == 201

    await until(writes_again, timeout=30, what="a write after Postgres came back")
    listed = await gw.get("/v1/buildings", headers=h)
    assert listed.status_code == 200 and listed.json()["meta"]["total"] == 2  # nothing half-written


async def read_org_events(bootstrap: str, topic: Topic, org_id: str, *, expected: int,
                          timeout: float) -> list[tuple[bytes | None, Any]]:
    """Every record of `org_id` on `topic`, read from the start until `expected` are there, then to the
    end offsets seen at that moment (so a duplicate published with them would be read too)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen: list[tuple[bytes | None, Any]] = []
        deadline = time.monotonic() + timeout
        ends: dict[TopicPartition, int] | None = None
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    env = parse_cloudevent(rec.value)
                    if env.orgid == org_id:
                        seen.append((rec.key, env))
            if ends is None and len(seen) >= expected:
                ends = await consumer.end_offsets(tps)
            if ends is not None and all(await asyncio.gather(*(_at(consumer, tp, ends[tp]) for tp in tps))):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"saw {len(seen)} of {expected} events of {org_id} within {timeout} s")
    finally:
        await consumer.stop()


async def _at(consumer: AIOKafkaConsumer, tp: TopicPartition, end: int) -> bool:
    return bool(await consumer.position(tp) >= end)


async def test_kafka_down_writes_are_accepted_then_delivered_once_in_order(
    gw: httpx.AsyncClient, demo: dict[str, Any],
) -> None:
    org = await new_org(gw, demo, plan="enterprise")
    h = bearer(org["key"])
    infra("kafka.sh", "stop")
    try:
        buildings = []
        for i in range(3):
            resp = await gw.post("/v1/buildings", json={**BUILDING, "name": f"Outage {i}"}, headers=h)
            assert resp.status_code == 201, resp.text
            buildings.append(resp.json()["data"]["id"])
        for round_ in range(4):  # several events per key: their order must survive the outage
            for bid in buildings:
                resp = await gw.patch(f"/v1/buildings/{bid}", json={"name": f"Renamed {round_}"}, headers=h)
                assert resp.status_code == 200, resp.text
    finally:
        infra("kafka.sh", "start")
    expected = 3 * 5
    events = await read_org_events(demo["kafka_bootstrap"], PROPERTY_EVENTS, org["org_id"],
                                   expected=expected, timeout=60)
    ids = [env.id for _, env in events]
    assert len(ids) == expected and len(set(ids)) == expected, "an event was lost or published twice"
    by_key: dict[bytes | None, list[int]] = defaultdict(list)
    for key, env in events:
        by_key[key].append(int(env.sequence))
    assert {k.decode() for k in by_key if k} == set(buildings)
    for key, sequences in by_key.items():
        assert sequences == sorted(sequences) == list(range(sequences[0], sequences[0] + 5)), key
