"""Property service benchmark: filtered GET /v1/units over 100,000 units (or several sizes), and a bulk create.

Figures, not assertions. The service runs in-process (its real lifespan: migrations, pool, outbox relay,
consumers) and is called through an httpx ASGI client, so the numbers are the service's own latency
plus a thin in-process HTTP layer, without a network hop. Seeding bypasses the API (INSERT ... SELECT
generate_series as the service role). The schema and role are dropped at the end.

    .venv/bin/python bench/property_bench.py [--units 100000,1000000] [--database-url ADMIN_DSN] [--kafka HOST:PORT]

With several unit counts, each is seeded in its own schema and the growth of every shape's p99 is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from benchlib import drop_bench_schema, pct, seed_org
from hearth_kit.ids import new_id
from hearth_kit.testing import Infra, service_harness
from hearth_kit.testing.plugin import unique_schema
from hearth_property.main import build_app

UNITS = 100_000
BUILDINGS = 200
AGENTS = 20

SEED = """
INSERT INTO buildings (id, org_id, name, type, address, timezone, status)
SELECT 'bld_bench' || lpad(i::text, 17, '0'), $1, 'Building ' || i,
       (ARRAY['residential', 'commercial', 'mixed'])[1 + i % 3],
       jsonb_build_object('line1', i || ' Bench Street', 'city', 'Berlin', 'country', 'DE'), 'Europe/Berlin', 'active'
FROM generate_series(0, $2 - 1) AS i;

INSERT INTO agents (id, org_id, name, email)
SELECT 'agt_bench' || lpad(i::text, 17, '0'), $1, 'Agent ' || i, 'agent' || i || '@bench.test'
FROM generate_series(0, $2 - 1) AS i;

INSERT INTO units (id, org_id, building_id, name, unit_number, type, status, bedrooms, bathrooms, size_interior,
                   size_land, size_unit, price_amount, price_currency, features, visibility, assigned_agent,
                   created_at, updated_at)
SELECT 'unit_bench' || lpad(i::text, 16, '0'), $1, 'bld_bench' || lpad((i % $2)::text, 17, '0'), 'Unit ' || i,
       lpad((i / $2)::text, 4, '0'), (1 + i % 5) || 'BR',
       (ARRAY['available', 'reserved', 'sold', 'off_market', 'rented'])[1 + (i * 7) % 5],
       i % 6, 1 + i % 3, 30 + (i * 37) % 300, NULL, 'sqm',
       50000 + ((i::bigint * 7919) % 2000000), 'USD', ARRAY['garden'],
       (ARRAY['public', 'agents', 'team', 'private'])[1 + (i * 3) % 4],
       CASE WHEN i % 2 = 0 THEN 'agt_bench' || lpad((i % $3)::text, 17, '0') END,
       now() - make_interval(secs => i), now()
FROM generate_series(0, $4 - 1) AS i;
"""


def queries(building: str, agent: str) -> list[tuple[str, str, str]]:
    return [
        ("status + sort -price", "admin", "status=available&sort=-price"),
        ("building + sort unit_number", "admin", f"building_id={building}&sort=unit_number"),
        ("price range + bedrooms", "admin", "min_price=100000&max_price=500000&bedrooms=3"),
        ("bedrooms + sort price", "manager", "bedrooms=2&sort=price"),
        ("partner: min_size + sort -size", "partner", "min_size=200&sort=-size"),
        ("agent + status", "leasing_agent", f"agent_id={agent}&status=off_market"),
        ("no filter, page 5", "admin", "page=5"),
        ("status + high min_price", "admin", "status=rented&min_price=1500000&sort=price"),
    ]




async def drop(args: argparse.Namespace, schema: str) -> None:
    """Remove the bench schema and its role (unless --keep)."""
    if args.keep:
        print(f"kept schema {schema}")
        return
    await drop_bench_schema(args.database_url, schema)


async def main(args: argparse.Namespace) -> None:
    """One run per unit count, then how each shape's p99 grew from the first count to the last."""
    counts = [int(c) for c in str(args.units).split(",")]
    results = [await one_size(args, units) for units in counts]
    if len(results) > 1:
        print(f"\np99 growth {counts[0]:,} → {counts[-1]:,} units:")
        for first, last in zip(results[0], results[-1], strict=True):
            print(f"  {first[0]:38} {first[3]:>7.2f} ms → {last[3]:>7.2f} ms  ({last[3] / first[3]:.1f}x)")


async def one_size(args: argparse.Namespace, units: int) -> list[tuple[str, str, float, float, float, int]]:
    infra = Infra(database_url=args.database_url, kafka_bootstrap=args.kafka, how="bench")
    schema = unique_schema("property_bench")
    org = new_id("org")
    os.environ["HEARTH_PROPERTY_LEASE_SWEEP_SECONDS"] = "3600"
    rows: list[tuple[str, str, float, float, float, int]] = []
    all_ms: list[float] = []
    bulk_ms: list[float] = []
    seed_s = 0.0
    try:
        async with service_harness(infra, schema=schema, prefix="HEARTH_PROPERTY_", build_app=build_app,
                                   monkeypatch_env=os.environ.__setitem__) as h:
            seed_s = await seed_org(h.database_url, schema, org, SEED,
                                    [[org, BUILDINGS], [org, AGENTS], [org, BUILDINGS, AGENTS, units]],
                                    vacuum=("buildings", "units", "agents"))

            building = "bld_bench" + "7".zfill(17)
            agent = "agt_bench" + "4".zfill(17)
            for name, role, query in queries(building, agent):
                headers = h.headers(org_id=org, role=role)
                for _ in range(5):  # warm-up
                    await h.client.get(f"/v1/units?{query}", headers=headers)
                samples: list[float] = []
                total = ""
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    resp = await h.client.get(f"/v1/units?{query}", headers=headers)
                    samples.append((time.perf_counter() - t0) * 1000)
                    assert resp.status_code == 200, resp.text
                    meta = resp.json()["meta"]
                    total = f"{meta['total']}{'+' if meta.get('total_capped') else ''}"
                all_ms += samples
                rows.append((name, total, statistics.median(samples), pct(samples, 99), max(samples), len(samples)))

            headers = h.headers(org_id=org)
            for run in range(3):
                bulk = [{"building_id": building, "name": f"Bulk {run}-{i}", "unit_number": f"B{run}-{i:03d}",
                          "bedrooms": i % 4, "price": {"amount": f"{100000 + i}.00", "currency": "USD"},
                          "features": ["garden", "garage"], "visibility": "public"} for i in range(500)]
                t0 = time.perf_counter()
                resp = await h.client.post("/v1/units/bulk", json={"units": bulk}, headers=headers)
                bulk_ms.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 201, resp.text
    finally:
        await drop(args, schema)

    print(f"\nproperty bench: {units:,} units across {BUILDINGS} buildings, one org; seeded in {seed_s:.1f} s")
    print("service in-process, called through an httpx ASGI client (no network hop)\n")
    print(f"{'GET /v1/units query':38} {'total':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'n':>5}")
    print("-" * 80)
    for name, total, p50, p99, worst, n in rows:
        print(f"{name:38} {total:>7} {p50:>8.2f} {p99:>8.2f} {worst:>8.2f} {n:>5}")
    print("-" * 80)
    print(f"{'all filtered queries':38} {'':>7} {statistics.median(all_ms):>8.2f} {pct(all_ms, 99):>8.2f} "
          f"{max(all_ms):>8.2f} {len(all_ms):>5}")
    print("\nPOST /v1/units/bulk (500 units, with 500 outbox events): "
          + ", ".join(f"{ms:.0f} ms" for ms in bulk_ms))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("HEARTH_DATABASE_URL"),
                        help="admin DSN (default: $HEARTH_DATABASE_URL)")
    parser.add_argument("--kafka", default=os.environ.get("HEARTH_KAFKA_BOOTSTRAP"),
                        help="Kafka bootstrap (default: $HEARTH_KAFKA_BOOTSTRAP)")
    parser.add_argument("--keep", action="store_true", help="keep the schema for inspection")
    parser.add_argument("--requests", type=int, default=150, help="requests per query shape")
    parser.add_argument("--units", default=str(UNITS),
                        help="unit count, or several comma-separated (e.g. 100000,1000000) to measure growth")
    parsed = parser.parse_args()
    if not parsed.database_url or not parsed.kafka:
        parser.error("--database-url and --kafka (or HEARTH_DATABASE_URL / HEARTH_KAFKA_BOOTSTRAP) are required")
    asyncio.run(main(parsed))
