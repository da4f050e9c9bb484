"""Maintenance service benchmark: request create and filtered lists with 100,000 requests in the org; alert event
produced → request visible through the API; building produced → usable in a request (projection lag).

Figures, not assertions. The service runs in-process (its real lifespan: migrations, pool, outbox relay,
consumers, overdue job) and is called through an httpx ASGI client (no network hop); events go through the real
Kafka. Seeding bypasses the API (INSERT ... SELECT generate_series as the service role). The schema and role are
dropped at the end.

    .venv/bin/python bench/maintenance_bench.py [--database-url ADMIN_DSN] [--kafka HOST:PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from benchlib import drop_bench_schema, pct, seed_org
from hearth_contracts.common import Address
from hearth_contracts.envelope import EventData, to_cloudevent_bytes
from hearth_contracts.property import BuildingCreated
from hearth_contracts.telemetry import AlertRaised
from hearth_kit.ids import new_id
from hearth_kit.messaging import new_producer
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema
from hearth_maintenance.main import build_app

REQUESTS = 100_000
BUILDINGS = 200
TECHS = 50

SEED = """
INSERT INTO buildings (id, org_id, name)
SELECT 'bld_bench' || lpad(i::text, 17, '0'), $1, 'Building ' || i FROM generate_series(0, $2 - 1) AS i;

INSERT INTO members (id, org_id, name, role)
SELECT 'mem_bench' || lpad(i::text, 17, '0'), $1, 'Tech ' || i, 'technician' FROM generate_series(0, $2 - 1) AS i;

INSERT INTO requests (id, org_id, building_id, title, description, category, priority, status, source, assignee_id,
                      due_at, created_by, created_at, updated_at)
SELECT 'req_bench' || lpad(i::text, 17, '0'), $1, 'bld_bench' || lpad((i % $2)::text, 17, '0'),
       (ARRAY['Leaking tap', 'Broken heater', 'Door lock stuck', 'Mould in bathroom', 'Light flickers'])[1 + i % 5]
         || ' #' || i, '',
       (ARRAY['plumbing', 'hvac', 'locks', 'general', 'electrical', 'appliance', 'pest'])[1 + i % 7],
       (ARRAY['low', 'normal', 'high', 'emergency'])[1 + (i * 7) % 4],
       s.status, (ARRAY['resident', 'staff', 'sensor', 'lock', 'partner'])[1 + (i * 3) % 5],
       CASE WHEN s.status <> 'new' THEN 'mem_bench' || lpad((i % $3)::text, 17, '0') END,
       now() - make_interval(secs => i) + interval '72 hours', 'key_bench',
       now() - make_interval(secs => i), now()
FROM generate_series(0, $4 - 1) AS i,
     LATERAL (SELECT (ARRAY['new', 'assigned', 'in_progress', 'on_hold', 'done', 'done', 'done', 'canceled'])
              [1 + (i * 5) % 8] AS status) s;
"""


def queries(building: str, tech: str) -> list[tuple[str, str, str | None]]:
    return [
        ("no filter (newest first)", "", None),
        ("status=new", "status=new", None),
        ("status new+assigned, sort -priority", "status=new&status=assigned&sort=-priority", None),
        ("building + open statuses", f"building_id={building}&status=new&status=in_progress", None),
        ("assignee", f"assignee_id={tech}", None),
        ("overdue=true", "overdue=true", None),
        ("category + priority", "category=plumbing&priority=emergency", None),
        ("technician's own view", "", tech),
        ("page 10, sort due_at", "page=10&sort=due_at", None),
    ]


def line(name: str, samples: list[float], extra: str = "", cpu_ms: float | None = None) -> str:
    cpu = f"{cpu_ms:>8.2f}" if cpu_ms is not None else f"{'':>8}"
    return (f"{name:40} {extra:>7} {statistics.median(samples):>8.2f} {pct(samples, 99):>8.2f} "
            f"{max(samples):>8.2f} {cpu} {len(samples):>5}")


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} cores"


async def produce(producer: Any, data: EventData, *, subject: str, org: str) -> None:
    payload = to_cloudevent_bytes(event_id=new_id("evt"), source="hearth/bench", data=data, subject=subject,
                                  org_id=org, sequence=1)
    await producer.send_and_wait(data.topic, payload, key=subject.encode())


async def seed(h: ServiceHarness, org: str, schema: str) -> float:
    return await seed_org(h.database_url, schema, org, SEED,
                          [[org, BUILDINGS], [org, TECHS], [org, BUILDINGS, TECHS, REQUESTS]],
                          vacuum=("requests", "buildings", "members"))


async def alert_to_visible(h: ServiceHarness, producer: Any, n: int) -> list[float]:
    """Produce an alert, poll the API until its request shows up; sequential, a fresh org."""
    org = new_id("org")
    building = new_id("bld")
    headers = h.headers(org_id=org)
    samples: list[float] = []
    for _ in range(n):
        sensor = new_id("sen")
        alert = AlertRaised(alert_id=new_id("alr"), org_id=org, sensor_id=sensor, sensor_kind="water_leak",
                            building_id=building, severity="critical", raised_at=datetime.now(UTC))
        t0 = time.perf_counter()
        await produce(producer, alert, subject=sensor, org=org)
        while True:
            resp = await h.client.get(f"/v1/requests?source=sensor&q={sensor}&limit=1", headers=headers)
            if resp.json()["data"]:
                break
            # a list call costs ~5 ms of this process's CPU: polling faster starves the consumer being measured
            await asyncio.sleep(0.01)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


async def projection_lag(h: ServiceHarness, producer: Any, n: int) -> list[float]:
    """Produce a building, then at once open a request on it (the service waits for its projection)."""
    org = new_id("org")
    headers = h.headers(org_id=org)
    now = datetime.now(UTC)
    samples: list[float] = []
    for _ in range(n):
        bid = new_id("bld")
        t0 = time.perf_counter()
        await produce(producer, BuildingCreated(
            building_id=bid, org_id=org, name="Bench", type="residential", timezone="UTC", status="active",
            address=Address(line1="1 Bench St", city="Berlin", country="DE"), created_at=now, updated_at=now),
            subject=bid, org=org)
        resp = await h.client.post("/v1/requests", json={"building_id": bid, "title": "Lag probe"}, headers=headers)
        assert resp.status_code == 201, resp.text
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


async def drop(args: argparse.Namespace, schema: str) -> None:
    if args.keep:
        print(f"kept schema {schema}")
        return
    await drop_bench_schema(args.database_url, schema)


async def main(args: argparse.Namespace) -> None:
    infra = Infra(database_url=args.database_url, kafka_bootstrap=args.kafka, how="bench")
    schema = unique_schema("maintenance_bench")
    org = new_id("org")
    os.environ["HEARTH_MAINTENANCE_OVERDUE_SWEEP_SECONDS"] = "3600"
    rows: list[str] = []
    all_ms: list[float] = []
    all_cpu: list[float] = []
    producer = new_producer(args.kafka, client_id="maintenance-bench")
    await producer.start()
    try:
        async with service_harness(infra, schema=schema, prefix="HEARTH_MAINTENANCE_", build_app=build_app,
                                   monkeypatch_env=os.environ.__setitem__) as h:
            seed_s = await seed(h, org, schema)
            building = "bld_bench" + "7".zfill(17)
            tech = "mem_bench" + "4".zfill(17)
            for name, query, member in queries(building, tech):
                headers = h.headers(org_id=org, role="technician" if member else "admin", member_id=member)
                for _ in range(5):
                    await h.client.get(f"/v1/requests?{query}", headers=headers)
                samples: list[float] = []
                total = 0
                cpu0 = time.process_time()
                for i in range(args.requests):
                    if i % 20 == 0:  # internal tokens live 60 s; a fresh one now and then (untimed)
                        headers = h.headers(org_id=org, role="technician" if member else "admin", member_id=member)
                        await h.client.get(f"/v1/requests?{query}", headers=headers)
                    t0 = time.perf_counter()
                    resp = await h.client.get(f"/v1/requests?{query}", headers=headers)
                    samples.append((time.perf_counter() - t0) * 1000)
                    assert resp.status_code == 200, resp.text
                    total = resp.json()["meta"]["total"]
                all_ms += samples
                cpu_ms = (time.process_time() - cpu0) * 1000 / (args.requests * 1.05)  # 1 in 20 is a token refresh
                all_cpu.append(cpu_ms)
                rows.append(line(name, samples, str(total), cpu_ms))
                print(rows[-1], flush=True)

            headers = h.headers(org_id=org)
            create_ms: list[float] = []
            cpu0 = time.process_time()
            for i in range(args.requests):
                body = {"building_id": building, "title": f"Bench create {i}", "priority": "high",
                        "category": "plumbing"}
                t0 = time.perf_counter()
                resp = await h.client.post("/v1/requests", json=body, headers=headers)
                create_ms.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 201, resp.text
            create_cpu = (time.process_time() - cpu0) * 1000 / args.requests
            load_lists = load_average()

            await alert_to_visible(h, producer, 3)  # warm the consumer path
            alert_ms = await alert_to_visible(h, producer, args.events)
            lag_ms = await projection_lag(h, producer, args.events // 2)
    finally:
        await producer.stop()
        await drop(args, schema)

    print(f"\nmaintenance bench: {REQUESTS:,} requests across {BUILDINGS} buildings, one org; seeded in {seed_s:.1f} s")
    print("service in-process, called through an httpx ASGI client (no network hop); events through real Kafka")
    print("cpu ms = this process's CPU per call (service + client; Postgres not included): load distorts it least")
    print(f"lists and creates measured at {load_lists}; events at {load_average()}\n")
    print(f"{'GET /v1/requests query':40} {'total':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
          f" {'cpu ms':>8} {'n':>5}")
    print("-" * 91)
    for row in rows:
        print(row)
    print("-" * 91)
    print(line("all filtered lists", all_ms, cpu_ms=statistics.mean(all_cpu)))
    print(line("POST /v1/requests (with 100k in the org)", create_ms, cpu_ms=create_cpu))
    print(line("alert produced -> request visible (API)", alert_ms))
    print(line("building produced -> request 201 (lag)", lag_ms))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("HEARTH_DATABASE_URL"),
                        help="admin DSN (default: $HEARTH_DATABASE_URL)")
    parser.add_argument("--kafka", default=os.environ.get("HEARTH_KAFKA_BOOTSTRAP"),
                        help="Kafka bootstrap (default: $HEARTH_KAFKA_BOOTSTRAP)")
    parser.add_argument("--keep", action="store_true", help="keep the schema for inspection")
    parser.add_argument("--requests", type=int, default=150, help="requests per query shape and creates")
    parser.add_argument("--events", type=int, default=100, help="alert events timed end to end")
    parsed = parser.parse_args()
    if not parsed.database_url or not parsed.kafka:
        parser.error("--database-url and --kafka (or HEARTH_DATABASE_URL / HEARTH_KAFKA_BOOTSTRAP) are required")
    asyncio.run(main(parsed))
