from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hearth_access.main import build_app
from hearth_access.simulator.server import running_simulator
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema


@pytest.fixture(scope="session")
async def sim_url() -> AsyncIterator[str]:
    """One lock vendor simulator over real HTTP for the whole run; tests isolate by account."""
    async with running_simulator() as url:
        yield url


@pytest.fixture(scope="session")
async def sim(sim_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the simulator's control API."""
    async with httpx.AsyncClient(base_url=sim_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


TEST_SETTINGS = {
    "STATUS_POLL_SECONDS": "0.2", "CODE_SYNC_SECONDS": "0.2", "ATTEMPT_SWEEP_SECONDS": "0.2",
    "VENDOR_BACKOFF_SECONDS": "0.01", "VENDOR_TIMEOUT_SECONDS": "1", "VENDOR_ATTEMPTS": "2",
    "ACTION_ATTEMPT_TTL_SECONDS": "3", "CODE_RETRY_BASE_SECONDS": "0.05", "CODE_SYNC_MAX_ATTEMPTS": "3",
    "PROJECTION_WAIT_SECONDS": "0.5", "CONSUMER_MAX_ATTEMPTS": "3",
}


@pytest.fixture(scope="module")
async def svc(infra: Infra) -> AsyncIterator[ServiceHarness]:
    """One access-control service (own schema) per test module, with short intervals; tests isolate by org."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in TEST_SETTINGS.items():
            mp.setenv(f"HEARTH_ACCESS_{key}", value)
        async with service_harness(
            infra, schema=unique_schema("access"), prefix="HEARTH_ACCESS_", build_app=build_app,
            monkeypatch_env=mp.setenv,
        ) as harness:
            yield harness


@pytest.fixture(scope="session")
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    """Publishes other services' events to the real topics (as their producers would)."""
    p = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
