"""Locks and lock/unlock commands against the simulator: attempts end right, exactly once, within expiry."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from access_helpers import connect_vendor, place_building, until
from aiokafka import AIOKafkaProducer
from hearth_access.service import commands
from hearth_contracts.access import UnlockDoor
from hearth_contracts.envelope import parse_cloudevent
from hearth_contracts.topics import ACCESS_EVENTS
from hearth_kit.testing import EventReader, Infra, ServiceHarness


async def _setup(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer,
                 org: str, **kw: Any) -> dict[str, Any]:
    place = await place_building(svc, producer, org)
    return {**await connect_vendor(svc, sim, sim_url, org, place=place, **kw), "place": place}


async def test_import_places_locks_and_the_vendor_token_is_sealed(svc: ServiceHarness, sim: httpx.AsyncClient,
                                                                   sim_url: str, producer: AIOKafkaProducer,
                                                                   org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id, locks_per_unit=2)
    unit_id = env["place"]["unit_ids"][0]
    h = svc.headers(org_id=org_id)
    resp = await svc.client.get(f"/v1/locks?unit_id={unit_id}", headers=h)
    assert resp.json()["meta"]["total"] == 2
    common = (await svc.client.get(f"/v1/locks?building_id={env['place']['building_id']}", headers=h)).json()
    assert common["meta"]["total"] == 3
    lock = resp.json()["data"][0]
    assert lock["code_length"] == {"min": 4, "max": 4} and lock["online"] is True
    async with svc.raw(org_id=org_id) as conn:
        stored = await conn.fetchrow("SELECT permanent_token, temporary_token FROM vendors")
    assert stored is not None
    token = env["account"]["permanent_token"]
    assert stored["permanent_token"].startswith("fernet:") and token not in stored["permanent_token"]
    assert stored["temporary_token"] is None or stored["temporary_token"].startswith("fernet:")
    # vendor view never shows tokens
    vendor = (await svc.client.get(f"/v1/lock-vendors/{env['vendor']['id']}", headers=h)).json()["data"]
    assert "permanent_token" not in vendor and vendor["status"] == "ok"
    # importing again creates nothing new
    again = await svc.client.post(f"/v1/lock-vendors/{env['vendor']['id']}/import", headers=h)
    assert again.status_code == 200 and again.json()["data"]["locks_created"] == 0


async def test_unlock_then_lock_end_in_success_with_facts(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                                                          producer: AIOKafkaProducer, infra: Infra,
                                                          org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id)
    lock = env["locks"][0]
    h = svc.headers(org_id=org_id)
    async with EventReader(infra.kafka_bootstrap, ACCESS_EVENTS.name) as reader:
        resp = await svc.client.post(f"/v1/locks/{lock['id']}/unlock", headers=h)
        assert resp.status_code == 202, resp.text
        attempt = resp.json()["data"]
        assert attempt["status"] == "pending" and attempt["id"].startswith("act_")
        done = (await svc.client.get(f"/v1/action-attempts/{attempt['id']}?wait=10", headers=h)).json()["data"]
        assert done["status"] == "success", done
        await reader.wait_for(lambda k, e: e.type == "hearth.lock.unlocked.v1" and e.data["lock_id"] == lock["id"])
        await reader.wait_for(lambda k, e: e.type == "hearth.action_attempt.succeeded.v1"
                              and e.subject == attempt["id"])
    state = (await sim.get(f"/_sim/accounts/{env['account']['account_id']}")).json()
    assert state["locks"][lock["vendor_lock_id"]]["state"] == "unlocked"
    assert (await svc.client.get(f"/v1/locks/{lock['id']}", headers=h)).json()["data"]["state"] == "unlocked"
    resp = await svc.client.post(f"/v1/locks/{lock['id']}/lock", headers=h)
    done = (await svc.client.get(f"/v1/action-attempts/{resp.json()['data']['id']}?wait=10", headers=h)).json()
    assert done["data"]["status"] == "success"


async def test_jammed_and_offline_locks_end_in_typed_errors(svc: ServiceHarness, sim: httpx.AsyncClient,
                                                            sim_url: str, producer: AIOKafkaProducer,
                                                            org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id)
    acct = env["account"]["account_id"]
    lock = env["locks"][0]
    h = svc.headers(org_id=org_id)
    await sim.patch(f"/_sim/accounts/{acct}/locks/{lock['vendor_lock_id']}", json={"jammed": True})
    act = (await svc.client.post(f"/v1/locks/{lock['id']}/lock", headers=h)).json()["data"]
    done = (await svc.client.get(f"/v1/action-attempts/{act['id']}?wait=10", headers=h)).json()["data"]
    assert done["status"] == "error" and done["error"]["type"] == "lock_jammed"
    assert (await svc.client.get(f"/v1/locks/{lock['id']}", headers=h)).json()["data"]["state"] == "jammed"
    await sim.patch(f"/_sim/accounts/{acct}/locks/{lock['vendor_lock_id']}", json={"jammed": False, "online": False})
    act = (await svc.client.post(f"/v1/locks/{lock['id']}/unlock", headers=h)).json()["data"]
    done = (await svc.client.get(f"/v1/action-attempts/{act['id']}?wait=10", headers=h)).json()["data"]
    assert done["status"] == "error" and done["error"]["type"] == "lock_offline"
    # the poller notices the lock went offline: a lock event and the lock's flag
    async def offline() -> bool:
        got = (await svc.client.get(f"/v1/locks/{lock['id']}", headers=h)).json()["data"]
        return got["online"] is False
    await until(offline)
    events = (await svc.client.get(f"/v1/lock-events?lock_id={lock['id']}&type=offline", headers=h)).json()
    assert events["meta"]["total"] == 1


async def test_vendor_5xx_ends_in_vendor_error(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                                               producer: AIOKafkaProducer, org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id)
    lock = env["locks"][0]
    h = svc.headers(org_id=org_id)
    await sim.post(f"/_sim/accounts/{env['account']['account_id']}/faults",
                   json={"status": 505, "count": 10, "match": "PUT unlock"})
    act = (await svc.client.post(f"/v1/locks/{lock['id']}/unlock", headers=h)).json()["data"]
    done = (await svc.client.get(f"/v1/action-attempts/{act['id']}?wait=10", headers=h)).json()["data"]
    assert done["status"] == "error" and done["error"]["type"] == "vendor_error"


async def test_a_redelivered_command_never_runs_twice(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                                                      producer: AIOKafkaProducer, infra: Infra, org_id: str) -> None:
    """The command is consumed, then the same record is delivered again (and run concurrently): one vendor call."""
    env = await _setup(svc, sim, sim_url, producer, org_id)
    lock = env["locks"][0]
    h = svc.headers(org_id=org_id)
    async with EventReader(infra.kafka_bootstrap, "access.commands") as reader:
        act = (await svc.client.post(f"/v1/locks/{lock['id']}/unlock", headers=h)).json()["data"]
        [(key, envelope)] = await reader.wait_for(lambda k, e: e.data.get("action_attempt_id") == act["id"])
    done = (await svc.client.get(f"/v1/action-attempts/{act['id']}?wait=10", headers=h)).json()["data"]
    assert done["status"] == "success"
    # redelivery to the bridge, twice at once, and the raw record again on the topic
    hub = svc.app.state.runtime.state
    command = envelope.data_as(UnlockDoor)
    await asyncio.gather(commands.execute_command(hub, command), commands.execute_command(hub, command))
    raw = envelope.model_dump_json().encode()
    await producer.send_and_wait("access.commands", raw, key=key)
    parse_cloudevent(raw)  # still a valid CloudEvent
    await asyncio.sleep(1.0)
    calls = (await sim.get(f"/_sim/accounts/{env['account']['account_id']}")).json()["calls"]
    assert calls[f"PUT unlock {lock['vendor_lock_id']}"] == 1


async def test_bridge_killed_mid_call_is_settled_without_a_second_call(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer, org_id: str) -> None:
    """A claimed attempt whose bridge died (no outcome written) is settled from the lock's state after expiry."""
    env = await _setup(svc, sim, sim_url, producer, org_id)
    lock = env["locks"][0]
    h = svc.headers(org_id=org_id)
    acct = env["account"]["account_id"]
    # the vendor takes longer than the bridge lives: the call is cut off (task cancelled) after it landed
    await sim.put(f"/_sim/accounts/{acct}", json={"latency_ms": 400})
    hub = svc.app.state.runtime.state

    async with svc.raw(org_id=org_id) as conn:
        row = await conn.fetchrow(
            "INSERT INTO action_attempts (id, org_id, lock_id, action, expires_at)"
            " VALUES ('act_' || substr(md5(random()::text), 1, 26), $1, $2, 'unlock', now() + interval '1 second')"
            " RETURNING *", org_id, lock["id"])
    assert row is not None
    data = UnlockDoor(org_id=org_id, action_attempt_id=row["id"], lock_id=lock["id"], expires_at=row["expires_at"])
    task = asyncio.create_task(commands.execute_command(hub, data))
    await asyncio.sleep(0.45)  # claimed, vendor reached, answer not yet recorded
    task.cancel()
    await sim.put(f"/_sim/accounts/{acct}", json={"latency_ms": 0})
    await commands.execute_command(hub, data)  # the restarted bridge sees it again: no second vendor call

    async def settled() -> Any:
        got = (await svc.client.get(f"/v1/action-attempts/{row['id']}", headers=h)).json()["data"]
        return got if got["status"] != "pending" else None
    done = await until(settled, timeout=20)
    calls = (await sim.get(f"/_sim/accounts/{acct}")).json()["calls"]
    assert calls[f"PUT unlock {lock['vendor_lock_id']}"] == 1
    assert done["status"] == "success"  # the lock is unlocked, so the sweeper settles it as done


async def test_unclaimed_attempts_expire(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                                         producer: AIOKafkaProducer, org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id)
    lock = env["locks"][0]
    h = svc.headers(org_id=org_id)
    async with svc.raw(org_id=org_id) as conn:
        row = await conn.fetchrow(
            "INSERT INTO action_attempts (id, org_id, lock_id, action, expires_at)"
            " VALUES ('act_' || substr(md5(random()::text), 1, 26), $1, $2, 'lock', now() + interval '200 ms')"
            " RETURNING id", org_id, lock["id"])
    assert row is not None
    done = (await svc.client.get(f"/v1/action-attempts/{row['id']}?wait=5", headers=h)).json()["data"]
    assert done["status"] == "error" and done["error"]["type"] == "action_attempt_expired"


async def test_guardrail_and_idempotency(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                                         producer: AIOKafkaProducer, org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id)
    lock = env["locks"][0]
    h = svc.headers(org_id=org_id)
    first = await svc.client.post(f"/v1/locks/{lock['id']}/lock", headers={**h, "Idempotency-Key": "k1"})
    again = await svc.client.post(f"/v1/locks/{lock['id']}/lock", headers={**h, "Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["data"]["id"] == again.json()["data"]["id"]
    for _ in range(14):
        assert (await svc.client.post(f"/v1/locks/{lock['id']}/lock", headers=h)).status_code == 202
    limited = await svc.client.post(f"/v1/locks/{lock['id']}/lock", headers=h)
    assert limited.status_code == 429 and limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # unlocks have their own budget
    assert (await svc.client.post(f"/v1/locks/{lock['id']}/unlock", headers=h)).status_code == 202
    async with svc.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM action_attempts WHERE action = 'lock'") == 15
