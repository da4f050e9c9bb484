"""The simulator pushes lock events to access-control over real HTTP as they happen (signed with the
account's permanent token); polling stays the safety net and the two never announce a fact twice.

This module's service polls once an hour, so a fact that shows up within seconds came by push."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from access_helpers import connect_vendor, place_building, until
from aiokafka import AIOKafkaProducer
from hearth_access.main import build_app
from hearth_access.service import polling
from hearth_access.simulator.server import serving
from hearth_access.vendor.push import SIGNATURE_HEADER, sign
from hearth_contracts.topics import ACCESS_EVENTS
from hearth_kit.testing import EventReader, Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema

SETTINGS = {"STATUS_POLL_SECONDS": "3600", "CODE_SYNC_SECONDS": "0.2", "ATTEMPT_SWEEP_SECONDS": "0.2",
            "VENDOR_BACKOFF_SECONDS": "0.01", "VENDOR_TIMEOUT_SECONDS": "1", "VENDOR_ATTEMPTS": "2",
            "PROJECTION_WAIT_SECONDS": "0.5", "CONSUMER_MAX_ATTEMPTS": "3"}


@pytest.fixture(scope="module")
async def svc(infra: Infra) -> AsyncIterator[ServiceHarness]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in SETTINGS.items():
            mp.setenv(f"HEARTH_ACCESS_{key}", value)
        async with service_harness(infra, schema=unique_schema("access_push"), prefix="HEARTH_ACCESS_",
                                   build_app=build_app, monkeypatch_env=mp.setenv) as harness:
            yield harness


@pytest.fixture(scope="module")
async def svc_url(svc: ServiceHarness) -> AsyncIterator[str]:
    """The same running service, also over real HTTP (the simulator calls it like a vendor would)."""
    async with serving(svc.app) as url:
        yield url


async def _pushing(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, svc_url: str,
                   producer: AIOKafkaProducer, org_id: str) -> dict[str, Any]:
    place = await place_building(svc, producer, org_id)
    env = await connect_vendor(svc, sim, sim_url, org_id, place=place)
    await polling.poll_pass(svc.app.state.runtime.state)  # the first pass only takes in the vendor's history
    env["push_url"] = f"{svc_url}/internal/v1/lock-vendors/{env['vendor']['id']}/events"
    await sim.put(f"/_sim/accounts/{env['account']['account_id']}", json={"push_url": env["push_url"]})
    return env


async def test_pushed_events_become_facts_at_once_and_polling_adds_none(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, svc_url: str, producer: AIOKafkaProducer,
        infra: Infra, org_id: str) -> None:
    env = await _pushing(svc, sim, sim_url, svc_url, producer, org_id)
    acct = env["account"]["account_id"]
    lock = env["locks"][0]
    h = svc.headers(org_id=org_id)
    async with EventReader(infra.kafka_bootstrap, ACCESS_EVENTS.name) as reader:
        await sim.patch(f"/_sim/accounts/{acct}/locks/{lock['vendor_lock_id']}", json={"manual": "unlocked"})
        await sim.patch(f"/_sim/accounts/{acct}/locks/{lock['vendor_lock_id']}", json={"tampered": True})

        async def both() -> Any:
            events = (await svc.client.get(f"/v1/lock-events?lock_id={lock['id']}", headers=h)).json()["data"]
            return events if {e["type"] for e in events} >= {"unlocked", "tampered"} else None
        events = await until(both, timeout=10)
        assert next(e for e in events if e["type"] == "unlocked")["method"] == "manual"
        got = (await svc.client.get(f"/v1/locks/{lock['id']}", headers=h)).json()["data"]
        assert got["state"] == "unlocked"
        await reader.wait_for(lambda k, e: e.type == "hearth.lock.tampered.v1" and e.subject == lock["id"])
        # the safety net runs: it finds both events recorded already, and announces nothing again
        await polling.poll_pass(svc.app.state.runtime.state)
        await reader.wait_for(lambda k, e: e.type == "hearth.lock.unlocked.v1" and e.subject == lock["id"])
        await asyncio.sleep(1.0)
        facts = [e.type for _, e in reader.seen if e.subject == lock["id"]]
        assert facts.count("hearth.lock.unlocked.v1") == 1 and facts.count("hearth.lock.tampered.v1") == 1
    async with svc.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM lock_events WHERE lock_id = $1", lock["id"]) == 2


async def test_a_push_not_signed_by_the_vendor_is_refused(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, svc_url: str, producer: AIOKafkaProducer,
        http: httpx.AsyncClient, org_id: str) -> None:
    env = await _pushing(svc, sim, sim_url, svc_url, producer, org_id)
    lock = env["locks"][0]
    token = env["account"]["permanent_token"]
    body = json.dumps([{"lock-event-id": "forged-1", "lock-id": lock["vendor_lock_id"], "action": "unlocked",
                        "method": "manual", "event-epoch": int(time.time())}]).encode()
    url = env["push_url"]
    js = {"content-type": "application/json"}

    def signed(value: str) -> dict[str, str]:
        return {**js, SIGNATURE_HEADER: value}
    refused = [
        await http.post(url, content=body, headers=js),  # unsigned
        await http.post(url, content=body, headers=signed(sign("not-the-token", body))),
        await http.post(url, content=body, headers=signed(sign(token, body, at=int(time.time()) - 3600))),  # stale
        await http.post(url, content=body + b" ", headers=signed(sign(token, body))),  # body changed
        await http.post(url, content=body, headers=signed("t=abc,v1=00")),
        await http.post(f"{svc_url}/internal/v1/lock-vendors/vnd_nosuchvendor/events", content=body,
                        headers=signed(sign(token, body))),
    ]
    for resp in refused:
        assert resp.status_code == 401, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
    garbage = b'{"lock-id": 1}'
    bad = await http.post(url, content=garbage, headers=signed(sign(token, garbage)))
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    async with svc.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM lock_events WHERE lock_id = $1", lock["id"]) == 0
    # the same body, signed by the vendor, is taken
    ok = await http.post(url, content=body, headers=signed(sign(token, body)))
    assert ok.status_code == 204, ok.text
    async with svc.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM lock_events WHERE lock_id = $1", lock["id"]) == 1


async def test_a_lock_event_after_the_vendor_was_added_is_announced_by_its_first_pass(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer, infra: Infra,
        org_id: str) -> None:
    """The first pass takes in the vendor's history unannounced; a lock used after the vendor was added but
    before that pass (seen in CI under load: a keypad use 0.2 s after adding the vendor) is news."""
    place = await place_building(svc, producer, org_id)
    env = await connect_vendor(svc, sim, sim_url, org_id, place=place)
    acct = env["account"]["account_id"]
    lock = env["locks"][0]
    async with EventReader(infra.kafka_bootstrap, ACCESS_EVENTS.name) as reader:
        await sim.patch(f"/_sim/accounts/{acct}/locks/{lock['vendor_lock_id']}", json={"manual": "unlocked"})
        await polling.poll_pass(svc.app.state.runtime.state)  # the vendor's first pass
        await reader.wait_for(lambda k, e: e.type == "hearth.lock.unlocked.v1" and e.subject == lock["id"])
