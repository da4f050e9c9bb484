from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from hearth_kit.messaging import new_producer
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema
from hearth_maintenance.main import build_app


@pytest.fixture(scope="module")
async def maint(infra: Infra) -> AsyncIterator[ServiceHarness]:
    """One maintenance service (own schema) per test module; tests isolate by org."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEARTH_MAINTENANCE_PROJECTION_WAIT_SECONDS", "1.0")
        mp.setenv("HEARTH_MAINTENANCE_OVERDUE_SWEEP_SECONDS", "0.3")
        async with service_harness(
            infra, schema=unique_schema("maintenance"), prefix="HEARTH_MAINTENANCE_", build_app=build_app,
            monkeypatch_env=mp.setenv,
        ) as harness:
            yield harness


@pytest.fixture(scope="module")
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    """Produces other services' facts to the real topics."""
    p = new_producer(infra.kafka_bootstrap, client_id="maintenance-tests")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
