"""Billing service benchmark: the month-end rent run, payments recorded per second, a 10-year ledger.

Figures, not assertions. The service runs in-process (its real lifespan: migrations, pool, outbox relay,
consumer, with the posting job parked) and is called through an httpx ASGI client. Lease accounts for the
month-end run are seeded with SQL (as the service role); the 10-year lease arrives as a real lease event
on property.events and its payments go through the API. The schema and role are dropped at the end.

    .venv/bin/python bench/billing_bench.py [--leases 100000] [--payments 2000] [--database-url ADMIN_DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import asyncpg
from aiokafka import AIOKafkaProducer
from benchlib import drop_bench_schema, pct
from hearth_billing.domain import month_start, next_month
from hearth_billing.main import build_app
from hearth_billing.service.postings import post_rent
from hearth_contracts.common import Money
from hearth_contracts.envelope import to_cloudevent_bytes
from hearth_contracts.property import LeaseCreated
from hearth_kit.ids import new_id
from hearth_kit.messaging import wait_for
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema

SEED = """
INSERT INTO lease_accounts (id, org_id, unit_id, building_id, resident_ids, currency, rent, deposit, due_day,
                            start_date, status, next_period, next_post_on, deposit_posted)
SELECT 'lease_bench' || lpad(i::text, 21, '0'), $1, 'unit_bench' || lpad(i::text, 16, '0'),
       'bld_bench' || lpad((i % 200)::text, 17, '0'), ARRAY['res_bench' || lpad(i::text, 17, '0')], 'USD',
       900 + i % 1000, 0, 1, $2::date, 'active', $3::date, $3::date, true
FROM generate_series(0, $4 - 1) AS i
"""




async def drop(args: argparse.Namespace, schema: str) -> None:
    """Remove the bench schema and its role (unless --keep)."""
    if args.keep:
        print(f"kept schema {schema}")
        return
    await drop_bench_schema(args.database_url, schema)


async def month_end(h: ServiceHarness, args: argparse.Namespace, org: str, schema: str) -> dict[str, float]:
    """Seed N active leases whose next rent is due on the 1st, then run the rent job for that day."""
    period = next_month(month_start(datetime.now(UTC).date()))
    conn = await asyncpg.connect(h.database_url, server_settings={"search_path": schema})
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('hearth.org_id', $1, true)", org)
            await conn.execute(SEED, org, month_start(datetime.now(UTC).date()), period, args.leases)
        await conn.execute("ANALYZE lease_accounts")
        runtime = h.app.state.runtime
        t0 = time.perf_counter()
        posted = await post_rent(runtime, today=period, batch=args.batch)
        run_s = time.perf_counter() - t0
        again = time.perf_counter()
        second = await post_rent(runtime, today=period, batch=args.batch)
        again_s = time.perf_counter() - again

        async def drained() -> bool:
            return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM outbox)")

        await wait_for(drained, timeout=600, interval=0.2)
        relay_s = time.perf_counter() - t0
    finally:
        await conn.close()
    # (the shared dev topic may bring a few leases of other orgs' tests along: counted, not asserted)
    return {"run_s": run_s, "again_s": again_s, "relay_s": relay_s, "posted": posted, "second": second}


async def payments(h: ServiceHarness, args: argparse.Namespace, org: str) -> dict[str, float]:
    """Record payments through the API on many leases at once (each one allocates and emits an event)."""
    leases = ["lease_bench" + str(i).zfill(21) for i in range(min(args.leases, 500))]
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(args.payments):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {"lease_id": leases[i % len(leases)], "amount": {"amount": "250.00", "currency": "USD"},
                    "method": "bank_transfer", "reference": f"TRX-{i}"}
            t0 = time.perf_counter()
            # a fresh internal token per call: a long run outlives one token's minute
            resp = await h.client.post("/v1/payments", json=body, headers=h.headers(org_id=org))
            latencies.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 201, resp.text

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    # CPU per payment of this process (client, service, relay) moves less with other load than the rate does
    return {"rate": args.payments / wall, "p50": statistics.median(latencies), "p99": pct(latencies, 99),
            "cpu_ms": cpu / args.payments * 1000}


async def ten_years(h: ServiceHarness, infra: Infra, org: str) -> dict[str, float]:
    """A lease that started ten years ago (120 rents posted from its event) with 120 payments; GET its ledger."""
    today = datetime.now(UTC).date()
    start = date(today.year - 10, today.month, 1)
    now = datetime.now(UTC)
    lease = LeaseCreated(lease_id=new_id("lease"), org_id=org, unit_id=new_id("unit"), building_id=new_id("bld"),
                         resident_ids=[new_id("res")], type="at_will", start_date=start,
                         rent=Money(amount=Decimal("1200.00"), currency="USD"),
                         deposit=Money(amount=Decimal("2400.00"), currency="USD"), payment_due_day=1,
                         status="active", created_at=now, updated_at=now)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        raw = to_cloudevent_bytes(event_id=new_id("evt"), source="hearth/property", data=lease,
                                  subject=lease.lease_id, org_id=org, sequence=1)
        await producer.send_and_wait("property.events", raw, key=lease.lease_id.encode())
    finally:
        await producer.stop()
    headers = h.headers(org_id=org)

    async def posted() -> bool:
        resp = await h.client.get(f"/v1/leases/{lease.lease_id}/ledger", headers=headers)
        return resp.status_code == 200 and resp.json()["meta"]["total"] >= 120

    assert await wait_for(posted, timeout=120)
    for i in range(120):
        resp = await h.client.post("/v1/payments", headers=h.headers(org_id=org), json={
            "lease_id": lease.lease_id, "amount": {"amount": "1200.00", "currency": "USD"}, "method": "card",
            "received_at": datetime(start.year + i // 12, 1 + i % 12, 3, 12, tzinfo=UTC).isoformat()})
        assert resp.status_code == 201, resp.text
    headers = h.headers(org_id=org)
    entries = (await h.client.get(f"/v1/leases/{lease.lease_id}/ledger", headers=headers)).json()["meta"]["total"]
    samples: dict[str, list[float]] = {"first page": [], "last page": []}
    last = (entries + 99) // 100
    for _ in range(5):
        await h.client.get(f"/v1/leases/{lease.lease_id}/ledger?limit=100", headers=headers)
    for n in range(300):
        if n % 100 == 0:
            headers = h.headers(org_id=org)
        for name, page in (("first page", 1), ("last page", last)):
            t0 = time.perf_counter()
            resp = await h.client.get(f"/v1/leases/{lease.lease_id}/ledger?limit=100&page={page}", headers=headers)
            samples[name].append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200, resp.text
    out = {"entries": float(entries)}
    for name, values in samples.items():
        out[f"{name} p50"] = statistics.median(values)
        out[f"{name} p99"] = pct(values, 99)
    return out


def report_month_end(args: argparse.Namespace, run: dict[str, float]) -> None:
    print(f"month-end run, {args.leases:,} active leases (batch {args.batch}):")
    print(f"  rent posted in {run['run_s']:.1f} s ({args.leases / run['run_s']:,.0f} leases/s; goal <= 60 s)")
    print(f"  charges posted: {run['posted']:,.0f}; a second run the same day: {run['again_s'] * 1000:.0f} ms,"
          f" {run['second']:.0f} posted")
    print(f"  all {args.leases:,} charge.posted events on Kafka {run['relay_s']:.1f} s after the run began", flush=True)


async def main(args: argparse.Namespace) -> None:
    """Each phase prints its figures as soon as it has them."""
    infra = Infra(database_url=args.database_url, kafka_bootstrap=args.kafka, how="bench")
    schema = unique_schema("billing_bench")
    org = new_id("org")
    os.environ["HEARTH_BILLING_POSTING_INTERVAL_SECONDS"] = "3600"
    print("\nbilling bench: service in-process, called through an httpx ASGI client (no network hop);"
          f" load average at start {os.getloadavg()[0]:.1f}\n")
    try:
        async with service_harness(infra, schema=schema, prefix="HEARTH_BILLING_", build_app=build_app,
                                   monkeypatch_env=os.environ.__setitem__) as h:
            report_month_end(args, await month_end(h, args, org, schema))
            pay = await payments(h, args, org)
            print(f"\npayments through POST /v1/payments ({args.payments:,}, {args.concurrency} concurrent): "
                  f"{pay['rate']:,.0f}/s, p50 {pay['p50']:.1f} ms, p99 {pay['p99']:.1f} ms;"
                  f" {pay['cpu_ms']:.1f} ms CPU per payment in this process", flush=True)
            ledger = await ten_years(h, infra, org)
            print(f"\n10-year ledger ({ledger['entries']:.0f} entries), GET /v1/leases/{{id}}/ledger?limit=100:")
            for name in ("first page", "last page"):
                print(f"  {name}: p50 {ledger[name + ' p50']:.2f} ms, p99 {ledger[name + ' p99']:.2f} ms"
                      " (goal p99 <= 20 ms)")
            print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    finally:
        await drop(args, schema)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("HEARTH_DATABASE_URL"),
                        help="admin DSN (default: $HEARTH_DATABASE_URL)")
    parser.add_argument("--kafka", default=os.environ.get("HEARTH_KAFKA_BOOTSTRAP"),
                        help="Kafka bootstrap (default: $HEARTH_KAFKA_BOOTSTRAP)")
    parser.add_argument("--leases", type=int, default=100_000, help="active leases in the month-end run")
    parser.add_argument("--batch", type=int, default=1000, help="leases per transaction in the rent run")
    parser.add_argument("--payments", type=int, default=2000, help="payments to record")
    parser.add_argument("--concurrency", type=int, default=16, help="payments in flight at once")
    parser.add_argument("--keep", action="store_true", help="keep the schema for inspection")
    parsed = parser.parse_args()
    if not parsed.database_url or not parsed.kafka:
        parser.error("--database-url and --kafka (or HEARTH_DATABASE_URL / HEARTH_KAFKA_BOOTSTRAP) are required")
    asyncio.run(main(parsed))
