"""Access-control benchmark: unlock accepted → attempt success (p50/p99), and 1,000 codes on 100 locks.

Figures, not assertions. The service runs in-process (real lifespan: migrations, pool, relay, consumers,
jobs) against real Postgres and Kafka; the lock vendor simulator runs in the same process over real HTTP
at 0 ms latency. Unlock latency = POST /v1/locks/{id}/unlock (202) until the attempt reads success, via the
long-poll: outbox → access.commands → bridge → vendor call → outcome. Codes: 1,000 POSTs across 100 unit
listings, then the time until every code reads `activated` on its lock (scheduler + vendor round trips).

    .venv/bin/python bench/access_bench.py [--database-url ADMIN_DSN] [--kafka HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from benchlib import drop_bench_schema, pct
from hearth_access.main import build_app
from hearth_access.simulator.server import running_simulator
from hearth_contracts.envelope import to_cloudevent_bytes
from hearth_contracts.property import BuildingCreated, UnitCreated
from hearth_kit.ids import new_id
from hearth_kit.testing import Infra, service_harness
from hearth_kit.testing.plugin import unique_schema

SETTINGS = {"STATUS_POLL_SECONDS": "1", "CODE_SYNC_SECONDS": "0.2", "ATTEMPT_SWEEP_SECONDS": "0.5",
            "OUTBOX_POLL_SECONDS": "0.2", "LOG_LEVEL": "WARNING"}




async def drop(args: argparse.Namespace, schema: str) -> None:
    """Remove the bench schema and its role."""
    await drop_bench_schema(args.database_url, schema)


async def project(producer: AIOKafkaProducer, org: str, units: int) -> tuple[str, list[str]]:
    now = datetime.now(UTC)
    building_id = new_id("bld")
    events: list[tuple[Any, str]] = [(BuildingCreated(
        building_id=building_id, org_id=org, name="Bench", type="residential",
        address={"line1": "1 Bench St", "city": "Boston", "country": "US"}, timezone="America/New_York",
        status="active", created_at=now, updated_at=now), building_id)]
    unit_ids = [new_id("unit") for _ in range(units)]
    events += [(UnitCreated(unit_id=u, org_id=org, building_id=building_id, name=f"U{i}", status="available",
                            price={"amount": "1.00", "currency": "USD"}, visibility="public", created_at=now,
                            updated_at=now), u) for i, u in enumerate(unit_ids)]
    for data, subject in events:
        await producer.send(data.topic, to_cloudevent_bytes(event_id=new_id("evt"), source="bench", data=data,
                                                            subject=subject, org_id=org, sequence=1),
                            key=subject.encode())
    await producer.flush()
    return building_id, unit_ids


async def main(args: argparse.Namespace) -> None:
    infra = Infra(database_url=args.database_url, kafka_bootstrap=args.kafka, how="bench")
    schema = unique_schema("access_bench")
    for key, value in SETTINGS.items():
        os.environ[f"HEARTH_ACCESS_{key}"] = value
    org = new_id("org")
    producer = AIOKafkaProducer(bootstrap_servers=args.kafka, acks="all")
    await producer.start()
    try:
        async with running_simulator() as sim_url, httpx.AsyncClient(base_url=sim_url) as sim, \
                service_harness(infra, schema=schema, prefix="HEARTH_ACCESS_", build_app=build_app,
                                monkeypatch_env=os.environ.__setitem__) as h:

            building_id, unit_ids = await project(producer, org, args.locks)
            lock_ids = [str(uuid.uuid4()) for _ in unit_ids]
            await sim.put("/_sim/accounts/bench", json={
                "rate_per_second": 100000,
                "locks": [{"lock_id": lk, "name": f"Door {i}"} for i, lk in enumerate(lock_ids)],
                "listings": [{"listing_id": f"L{i}", "name": f"Unit {i}", "code_length": 6, "timezone": "US/Eastern",
                              "linked_locks": [lk]} for i, lk in enumerate(lock_ids)]})
            token = (await sim.get("/_sim/accounts/bench")).json()["permanent_token"]
            vendor = (await h.client.post("/v1/lock-vendors", headers=h.headers(org_id=org), json={
                "name": "Bench", "base_url": sim_url, "permanent_token": token})).json()["data"]
            listings = (await h.client.get(f"/v1/lock-vendors/{vendor['id']}/listings",
                                           headers=h.headers(org_id=org))).json()["data"]
            for li in listings:
                unit_id = unit_ids[int(li["name"].split()[1])]
                for _ in range(100):
                    resp = await h.client.put(f"/v1/lock-vendors/{vendor['id']}/listings/{li['id']}",
                                              headers=h.headers(org_id=org),
                                              json={"building_id": building_id, "unit_id": unit_id})
                    if resp.status_code == 200:
                        break
            locks = (await h.client.get("/v1/locks?limit=100", headers=h.headers(org_id=org))).json()["data"]
            await asyncio.sleep(3)  # consumer groups settle

            # 1) unlock accepted → success, one at a time (round-robin over locks: no guardrail hits)
            latencies: list[float] = []
            accepted: list[float] = []
            cpu0 = time.process_time()
            for i in range(args.unlocks):
                lock = locks[i % len(locks)]
                t0 = time.perf_counter()
                auth = h.headers(org_id=org)
                act = (await h.client.post(f"/v1/locks/{lock['id']}/unlock", headers=auth)).json()["data"]
                accepted.append((time.perf_counter() - t0) * 1000)
                done = (await h.client.get(f"/v1/action-attempts/{act['id']}?wait=10", headers=auth)).json()
                latencies.append((time.perf_counter() - t0) * 1000)
                assert done["data"]["status"] == "success", done
            cpu = (time.process_time() - cpu0) * 1000 / args.unlocks
            print(f"unlock accepted -> attempt success ({args.unlocks} sequential, simulator 0 ms): "
                  f"p50 {statistics.median(latencies):.1f} ms  p99 {pct(latencies, 99):.1f} ms  "
                  f"max {max(latencies):.1f} ms")
            print(f"  of which the 202 itself: p50 {statistics.median(accepted):.1f} ms  "
                  f"p99 {pct(accepted, 99):.1f} ms;  process CPU {cpu:.1f} ms per unlock (service + simulator)")

            # 2) 1,000 codes across 100 locks: time until all are activated
            t0, cpu0 = time.perf_counter(), time.process_time()
            sem = asyncio.Semaphore(8)

            async def create(n: int) -> None:
                async with sem:
                    resp = await h.client.post("/v1/access-codes", headers=h.headers(org_id=org), json={
                        "name": f"code {n}", "unit_id": unit_ids[n % len(unit_ids)]})
                    assert resp.status_code == 201, resp.text
            await asyncio.gather(*(create(n) for n in range(args.codes)))
            created, created_cpu = time.perf_counter() - t0, time.process_time() - cpu0
            while True:
                async with h.raw(org_id=org) as conn:
                    left = await conn.fetchval("SELECT count(*) FROM code_locks WHERE state <> 'activated'")
                if left == 0:
                    break
                await asyncio.sleep(0.1)
            total, total_cpu = time.perf_counter() - t0, time.process_time() - cpu0
            print(f"{args.codes} codes on {len(locks)} locks: created in {created:.1f} s "
                  f"({args.codes / created:.0f}/s), all activated after {total:.1f} s")
            print(f"  process CPU: {created_cpu * 1000 / args.codes:.1f} ms per code created, "
                  f"{total_cpu * 1000 / args.codes:.1f} ms per code until all activated (service + simulator)")
    finally:
        await producer.stop()
        if not args.keep:
            await drop(args, schema)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("HEARTH_DATABASE_URL"),
                        help="admin DSN (default HEARTH_DATABASE_URL)")
    parser.add_argument("--kafka", default=os.environ.get("HEARTH_KAFKA_BOOTSTRAP"),
                        help="bootstrap servers (default HEARTH_KAFKA_BOOTSTRAP)")
    parser.add_argument("--keep", action="store_true", help="keep the schema for inspection")
    parser.add_argument("--locks", type=int, default=100)
    parser.add_argument("--codes", type=int, default=1000)
    parser.add_argument("--unlocks", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
