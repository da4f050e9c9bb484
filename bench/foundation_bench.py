"""Foundation benchmark: POST → consumer event latency, and outbox relay throughput with a backlog.

Figures, not assertions. Runs the property service in-process (httpx ASGI transport) against real
Postgres and Kafka: `--database-url` (admin DSN) and `--kafka`, defaulting to HEARTH_DATABASE_URL /
HEARTH_KAFKA_BOOTSTRAP.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime

import pytest
from benchlib import pct
from hearth_contracts.common import Address
from hearth_contracts.property import BuildingUpdated
from hearth_kit import outbox
from hearth_kit.ids import new_id
from hearth_kit.testing import EventReader, Infra, service_harness
from hearth_kit.testing.plugin import unique_schema
from hearth_property.main import build_app

BODY = {"name": "Bench Tower", "type": "residential", "timezone": "UTC",
        "address": {"line1": "1 Bench Way", "city": "Berlin", "country": "DE"}}




async def latency(infra: Infra, requests: int, concurrency: int) -> None:
    with pytest.MonkeyPatch.context() as mp:
        async with service_harness(infra, schema=unique_schema("benchprop"), prefix="HEARTH_PROPERTY_",
                                   build_app=build_app, monkeypatch_env=mp.setenv) as h:
            org = new_id("org")
            headers = h.headers(org_id=org)
            accepted: dict[str, float] = {}
            arrived: dict[str, float] = {}
            async with EventReader(infra.kafka_bootstrap, "property.events") as reader:

                posting_done = asyncio.Event()

                async def consume() -> None:
                    # other writers may share the topic: stop once every one of our keys has arrived
                    while not (posting_done.is_set() and accepted.keys() <= arrived.keys()):
                        batch = await reader._consumer.getmany(timeout_ms=200)
                        now = time.perf_counter()
                        for records in batch.values():
                            for rec in records:
                                arrived.setdefault(rec.key.decode(), now)

                consumer = asyncio.create_task(consume())
                sem = asyncio.Semaphore(concurrency)

                async def post() -> None:
                    async with sem:
                        resp = await h.client.post("/v1/buildings", json=BODY, headers=headers)
                        accepted[resp.json()["data"]["id"]] = time.perf_counter()

                # warm-up
                for _ in range(20):
                    await post()
                t0 = time.perf_counter()
                await asyncio.gather(*[post() for _ in range(requests - 20)])
                post_seconds = time.perf_counter() - t0
                posting_done.set()
                await asyncio.wait_for(consumer, timeout=120)
            lat = [max(0.0, arrived[k] - accepted[k]) * 1000 for k in accepted if k in arrived]
            print(f"event latency POST accepted -> consumer holds event  (n={len(lat)}, concurrency={concurrency})")
            print(f"  p50 {statistics.median(lat):7.2f} ms   p99 {pct(lat, 99):7.2f} ms   max {max(lat):7.2f} ms"
                  f"   (goal p99 <= 100 ms)")
            print(f"  POST throughput {(requests - 20) / post_seconds:8.0f} req/s (in-process, one core)")


async def relay_throughput(infra: Infra, backlog: int) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEARTH_PROPERTY_OUTBOX_BATCH_SIZE", "2000")
        async with service_harness(infra, schema=unique_schema("benchrelay"), prefix="HEARTH_PROPERTY_",
                                   build_app=build_app, monkeypatch_env=mp.setenv) as h:
            relay = h.app.state.runtime.relay
            await relay.stop()  # build the backlog with nobody relaying
            org = new_id("org")
            now = datetime.now(UTC)
            addr = Address(line1="1 Bench Way", city="Berlin", country="DE")
            t0 = time.perf_counter()
            async with h.raw(org_id=org) as conn:
                for i in range(backlog):
                    bid = f"bld_bench{i % 500:05d}"
                    await outbox.append(conn, source="hearth/property", subject=bid, org_id=org, data=BuildingUpdated(
                        building_id=bid, org_id=org, name=f"B{i}", type="residential", address=addr,
                        timezone="UTC", status="active", created_at=now, updated_at=now))
            write_s = time.perf_counter() - t0
            await relay.start()
            t1 = time.perf_counter()
            while True:
                async with h.raw() as conn:
                    left = await conn.fetchval("SELECT count(*) FROM outbox")
                if left == 0:
                    break
                await asyncio.sleep(0.05)
            relay_s = time.perf_counter() - t1
            print(f"outbox relay with a backlog of {backlog} events (acks=all, idempotent producer)")
            print(f"  {backlog / relay_s:8.0f} events/s relayed   (goal >= 5,000/s)")
            print(f"  {backlog / write_s:8.0f} events/s written by outbox.append in one transaction (for scale)")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--database-url", default=os.environ.get("HEARTH_DATABASE_URL", ""))
    ap.add_argument("--kafka", default=os.environ.get("HEARTH_KAFKA_BOOTSTRAP", ""))
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--backlog", type=int, default=20000)
    args = ap.parse_args()
    infra = Infra(database_url=args.database_url, kafka_bootstrap=args.kafka, how="env")
    await latency(infra, args.requests, args.concurrency)
    await relay_throughput(infra, args.backlog)


if __name__ == "__main__":
    asyncio.run(main())
