"""Test helpers: a local receiver, real events produced to Kafka, the service harness with test settings."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaProducer
from cryptography.fernet import Fernet
from hearth_contracts.envelope import to_cloudevent_bytes
from hearth_contracts.telemetry import AlertRaised
from hearth_contracts.topics import TELEMETRY_ALERTS
from hearth_kit.ids import new_id
from hearth_kit.messaging import wait_for
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema
from hearth_webhooks.main import build_app

TEST_FERNET_KEY = Fernet.generate_key().decode()


def settings_env(*, allowlist: list[str] | None = None, **overrides: str) -> dict[str, str]:
    env = {
        "HEARTH_WEBHOOKS_SSRF_ALLOWLIST": json.dumps(["127.0.0.0/8"] if allowlist is None else allowlist),
        "HEARTH_WEBHOOKS_RETRY_SCHEDULE": json.dumps([0.1, 0.2, 0.3]),
        "HEARTH_WEBHOOKS_RETRY_JITTER": "0",
        "HEARTH_WEBHOOKS_POLL_SECONDS": "0.05",
        "HEARTH_WEBHOOKS_REQUEST_TIMEOUT_SECONDS": "3",
        "HEARTH_WEBHOOKS_SECRET_ENCRYPTION_KEYS": json.dumps([TEST_FERNET_KEY]),
        "HEARTH_WEBHOOKS_CONSUMER_MAX_ATTEMPTS": "3",
        "HEARTH_WEBHOOKS_FANOUT_START": "latest",  # a fresh schema's group: not the topics' whole history
    }
    env.update(overrides)
    return env


@asynccontextmanager
async def webhooks_service(infra: Infra, *, schema: str | None = None, allowlist: list[str] | None = None,
                           **overrides: str) -> AsyncIterator[ServiceHarness]:
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        for k, v in settings_env(allowlist=allowlist, **overrides).items():
            mp.setenv(k, v)
        async with service_harness(infra, schema=schema or unique_schema("webhooks"), prefix="HEARTH_WEBHOOKS_",
                                   build_app=build_app, monkeypatch_env=mp.setenv) as harness:
            await asyncio.wait_for(harness.app.state.runtime.state.fanout_ready.wait(), timeout=60)
            yield harness


# --- the receiver ---------------------------------------------------------------------------------------

@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.body)
        return doc


# (n-th request to this path, from 1) → (status, headers, seconds to wait before answering)
Plan = Callable[[int], tuple[int, dict[str, str], float]]


def always(status: int, headers: dict[str, str] | None = None, delay: float = 0.0) -> Plan:
    return lambda _n: (status, headers or {}, delay)


def failing_first(n_failures: int, status: int = 500) -> Plan:
    return lambda n: (status if n <= n_failures else 200, {}, 0.0)


@dataclass
class Receiver:
    plans: dict[str, Plan] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        path = request.path
        self.received.append(Received(path, {k.lower(): v for k, v in request.headers.items()}, body, time.time()))
        n = sum(1 for r in self.received if r.path == path)
        status, headers, delay = self.plans.get(path, always(200))(n)
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, headers=headers, text=f"answer {n} to {path}")

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait(self, path: str, count: int, timeout: float = 15) -> list[Received]:
        async def enough() -> bool:
            return len(self.at(path)) >= count

        assert await wait_for(enough, timeout=timeout), f"{path}: {len(self.at(path))}/{count} requests"
        return self.at(path)


def unique_path() -> str:
    return "/" + new_id("rcv")


# --- events and calls -----------------------------------------------------------------------------------

def alert_event(org_id: str, *, sensor_id: str | None = None, sequence: int = 1) -> tuple[str, str, bytes]:
    """(event id, subject, CloudEvent bytes) of a real AlertRaised."""
    sensor = sensor_id or new_id("sen")
    event_id = new_id("evt")
    data = AlertRaised(alert_id=new_id("alr"), org_id=org_id, sensor_id=sensor, sensor_kind="temperature",
                       building_id=new_id("bld"), severity="warning", condition="above", value=31.5,
                       threshold=30.0, rule_id=None, raised_at=datetime.now(UTC))
    payload = to_cloudevent_bytes(event_id=event_id, source="hearth/telemetry", data=data, subject=sensor,
                                  org_id=org_id, sequence=sequence)
    return event_id, sensor, payload


async def produce(producer: AIOKafkaProducer, payload: bytes, *, key: str, topic: str = TELEMETRY_ALERTS.name) -> None:
    await producer.send_and_wait(topic, payload, key=key.encode())


async def mk_endpoint(h: ServiceHarness, org: str, url: str, **fields: Any) -> dict[str, Any]:
    resp = await h.client.post("/v1/webhooks/endpoints", json={"url": url, **fields}, headers=h.headers(org_id=org))
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


async def deliveries(h: ServiceHarness, org: str, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    resp = await h.client.get(f"/v1/webhooks/endpoints/{endpoint_id}/deliveries", params={"limit": 100, **params},
                              headers=h.headers(org_id=org))
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["data"]
    return items


async def wait_deliveries(h: ServiceHarness, org: str, endpoint_id: str,
                          predicate: Callable[[list[dict[str, Any]]], bool],
                          timeout: float = 15) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def ok() -> bool:
        nonlocal seen
        seen = await deliveries(h, org, endpoint_id)
        return predicate(seen)

    assert await wait_for(ok, timeout=timeout, interval=0.1), seen
    return seen
