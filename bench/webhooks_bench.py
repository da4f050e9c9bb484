"""Webhooks benchmark: deliveries per second to a local receiver, event produced → first attempt latency,
and whether an endpoint answering in 10 s lowers another endpoint's rate.

Figures, not assertions. The webhooks service runs in-process (its real lifespan: migrations, pool,
consumers from real Kafka, the delivery workers); events are real CloudEvents produced to
`telemetry.alerts`; the receiver is a separate process (aiohttp) on loopback, so its work does not share
the service's event loop. Latency = arrival at the receiver minus the CloudEvent's `time` (set when produced).

    .venv/bin/python bench/webhooks_bench.py [--events 4000] [--endpoints 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httptools
import httpx
import uvloop
from benchlib import drop_bench_schema, pct
from hearth_contracts.envelope import to_cloudevent_bytes
from hearth_contracts.telemetry import AlertRaised
from hearth_contracts.topics import TELEMETRY_ALERTS
from hearth_kit.ids import new_id
from hearth_kit.messaging import new_producer
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema

# --- the receiver (its own process) ---------------------------------------------------------------------


class _ReceiverProtocol(asyncio.Protocol):
    """One keep-alive connection of the receiver: httptools parses, answers are written by hand.

    A lean server on purpose: the bench measures the service, and an aiohttp receiver cost ~0.25 ms of
    CPU per request on this 2-core machine (a quarter of it at 1,400/s, taken from the service and Postgres).
    """

    TIME = re.compile(rb'"time"\s*:\s*"([^"]+)"')

    def __init__(self, stats: dict[str, dict[str, Any]]) -> None:
        self.stats = stats
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        url, body, self.url, self.body = self.url.decode(), bytes(self.body), b"", bytearray()
        path, _, query = url.partition("?")
        if self.parser.get_method() == b"GET":
            full = "latencies" in query  # latencies only when asked: a growing list polled every 0.2 s
            doc = {p: s if full else {k: v for k, v in s.items() if k != "latencies"} for p, s in self.stats.items()}
            self.answer(json.dumps(doc).encode())
            return
        now = time.time()
        found = self.TIME.search(body)
        event_time = datetime.fromisoformat(found.group(1).decode()).timestamp() if found else now
        s = self.stats.setdefault(path, {"count": 0, "first": now, "last": now, "latencies": []})
        s["count"] += 1
        s["last"] = now
        s["latencies"].append(now - event_time)
        if path.startswith("/slow"):
            asyncio.get_running_loop().call_later(10, self.answer, b"")
        else:
            self.answer(b"")

    def answer(self, body: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def run_receiver(port: int) -> None:
    """POST /<path>: 200 (after 10 s on paths starting /slow); GET /stats: per path count, first/last, latencies."""
    stats: dict[str, dict[str, Any]] = {}

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(lambda: _ReceiverProtocol(stats), "127.0.0.1", port)
        await server.serve_forever()

    uvloop.install()
    asyncio.run(serve())


# --- the bench ------------------------------------------------------------------------------------------




def alert(org_id: str) -> tuple[str, bytes]:
    sensor = new_id("sen")
    data = AlertRaised(alert_id=new_id("alr"), org_id=org_id, sensor_id=sensor, sensor_kind="temperature",
                       building_id=new_id("bld"), severity="warning", condition="above", value=31.0, threshold=30.0,
                       raised_at=datetime.now(UTC))
    return sensor, to_cloudevent_bytes(event_id=new_id("evt"), source="hearth/telemetry", data=data, subject=sensor,
                                       org_id=org_id, sequence=1)


class Bench:
    def __init__(self, hooks: ServiceHarness, infra: Infra, receiver_url: str) -> None:
        self.hooks = hooks
        self.infra = infra
        self.receiver_url = receiver_url
        self.http = httpx.AsyncClient(timeout=30)
        self.producer = new_producer(infra.kafka_bootstrap, client_id="webhooks-bench")

    async def endpoint(self, org: str, path: str, **fields: Any) -> None:
        resp = await self.hooks.client.post("/v1/webhooks/endpoints", headers=self.hooks.headers(org_id=org),
                                            json={"url": self.receiver_url + path, "event_types": ["hearth.alert.*"],
                                                  **fields})
        assert resp.status_code == 201, resp.text

    async def produce(self, org: str, n: int, *, per_second: float | None = None) -> None:
        futures = []
        started = time.perf_counter()
        for i in range(n):
            key, payload = alert(org)
            futures.append(await self.producer.send(TELEMETRY_ALERTS.name, payload, key=key.encode()))
            if per_second is not None:
                await asyncio.sleep(max(0.0, started + (i + 1) / per_second - time.perf_counter()))
        await asyncio.gather(*futures)

    async def stats(self, *, latencies: bool = False) -> dict[str, Any]:
        query = "?latencies" if latencies else ""
        doc: dict[str, Any] = (await self.http.get(f"{self.receiver_url}/stats{query}")).json()
        return doc

    async def wait_count(self, paths: list[str], count: int, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = await self.stats()
            if all(stats.get(p, {}).get("count", 0) >= count for p in paths) or time.monotonic() > deadline:
                return await self.stats(latencies=True)
            await asyncio.sleep(0.2)


async def _wait_up(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the receiver did not start")


async def main(args: argparse.Namespace) -> None:
    infra = Infra(database_url=args.database_url, kafka_bootstrap=args.kafka, how="given")
    port = 28990 + os.getpid() % 9
    receiver = await asyncio.create_subprocess_exec(sys.executable, __file__, "--receiver", str(port))
    schema = unique_schema("webhooks_bench")
    env = {"HEARTH_WEBHOOKS_SSRF_ALLOWLIST": '["127.0.0.0/8"]', "HEARTH_WEBHOOKS_POLL_SECONDS": "0.1",
           "HEARTH_WEBHOOKS_DB_POOL_MAX": "20", "HEARTH_WEBHOOKS_LOG_LEVEL": "WARNING",
           "HEARTH_WEBHOOKS_MAX_IN_FLIGHT": "512", "HEARTH_WEBHOOKS_FANOUT_START": "latest"}
    try:
        await _wait_up(f"http://127.0.0.1:{port}/stats")
        os.environ.update(env)
        from hearth_webhooks.main import build_app

        async with service_harness(infra, schema=schema, prefix="HEARTH_WEBHOOKS_", build_app=build_app,
                                   monkeypatch_env=lambda k, v: os.environ.__setitem__(k, v)) as hooks:
            # a fresh group starts at the end of the topics (not their history) once it has its positions
            await asyncio.wait_for(hooks.app.state.runtime.state.fanout_ready.wait(), timeout=120)
            bench = Bench(hooks, infra, f"http://127.0.0.1:{port}")
            await bench.producer.start()
            try:
                await run(bench, args)
            finally:
                await bench.producer.stop()
                await bench.http.aclose()
    finally:
        receiver.terminate()
        await receiver.wait()
        await drop_bench_schema(args.database_url, schema)


async def run(bench: Bench, args: argparse.Namespace) -> None:
    # 1. throughput: a backlog of events fanned out to several endpoints of one org
    org = new_id("org")
    paths = [f"/through{i}" for i in range(args.endpoints)]
    for p in paths:
        await bench.endpoint(org, p, max_concurrency=100)
    started, cpu_started = time.time(), time.process_time()
    await bench.produce(org, args.events)
    produced = time.time()
    stats = await bench.wait_count(paths, args.events)
    total = sum(stats[p]["count"] for p in paths)
    first = min(stats[p]["first"] for p in paths)
    last = max(stats[p]["last"] for p in paths)
    print(f"throughput: {args.events} events x {args.endpoints} endpoints = {total} deliveries in "
          f"{last - started:.1f} s from the first produce ({args.events / (produced - started):.0f} events/s produced)")
    cpu = time.process_time() - cpu_started
    print(f"  deliveries/s (first → last arrival): {total / max(last - first, 1e-9):.0f}"
          f"  (load average {os.getloadavg()[0]:.1f})")
    # Load distorts the rate, much less the CPU spent: this process is the service plus the producer.
    print(f"  CPU of the service process: {cpu * 1000 / max(total, 1):.2f} ms per delivery"
          f" ({total / max(cpu, 1e-9):.0f} deliveries per CPU-second)")

    # 2. latency at a steady, moderate rate
    org = new_id("org")
    await bench.endpoint(org, "/latency")
    await bench.produce(org, args.latency_events, per_second=args.latency_rate)
    stats = await bench.wait_count(["/latency"], args.latency_events)
    lat = [x * 1000 for x in stats.get("/latency", {}).get("latencies", [])] or [float("nan")]
    print(f"latency produced → first attempt ({len(lat)} events at {args.latency_rate:.0f}/s): "
          f"p50 {pct(lat, 50):.0f} ms, p99 {pct(lat, 99):.0f} ms, max {max(lat):.0f} ms"
          f"  (load average {os.getloadavg()[0]:.1f})")

    # 3. isolation: an endpoint answering in 10 s beside a fast one, versus the fast one alone
    rates = {}
    for label, with_slow in (("alone", False), ("beside a 10 s endpoint", True)):
        org = new_id("org")
        fast = f"/fast-{label[:5]}"
        await bench.endpoint(org, fast, max_concurrency=64)
        if with_slow:
            await bench.endpoint(org, "/slow", max_concurrency=64)
        t0 = time.time()
        await bench.produce(org, args.isolation_events)
        stats = await bench.wait_count([fast], args.isolation_events)
        got = stats.get(fast, {"count": 0, "last": t0 + 1})
        # first → last arrival: the slow endpoint's share of the fan-out (twice the rows) is not counted
        rates[label] = got["count"] / max(got["last"] - got.get("first", t0), 1e-9)
        print(f"fast endpoint {label}: {rates[label]:.0f} deliveries/s  (load average {os.getloadavg()[0]:.1f})")
    print(f"  ratio (beside slow ÷ alone): {rates['beside a 10 s endpoint'] / max(rates['alone'], 1e-9):.2f}")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--receiver", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--database-url", default=os.environ.get("HEARTH_DATABASE_URL",
                                                            "postgresql://hearth:hearth@127.0.0.1:15432/hearth"))
    p.add_argument("--kafka", default=os.environ.get("HEARTH_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    p.add_argument("--events", type=int, default=4000)
    p.add_argument("--endpoints", type=int, default=4)
    p.add_argument("--latency-events", type=int, default=400)
    p.add_argument("--latency-rate", type=float, default=40.0)
    p.add_argument("--isolation-events", type=int, default=1500)
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.receiver:
        run_receiver(arguments.receiver)
    else:
        uvloop.install()  # the loop uvicorn runs the service on
        asyncio.run(main(arguments))
