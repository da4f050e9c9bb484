from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from hearth_kit.messaging import new_producer
from hearth_kit.testing import Infra, ServiceHarness
from webhooks_helpers import Receiver, webhooks_service


@pytest.fixture(scope="module")
async def hooks(infra: Infra) -> AsyncIterator[ServiceHarness]:
    """One webhooks service (own schema) per test module, loopback allowlisted; tests isolate by org."""
    async with webhooks_service(infra) as harness:
        yield harness


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    """A local HTTP receiver recording every request; each test uses its own paths."""
    async with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    p = new_producer(infra.kafka_bootstrap, client_id="webhooks-tests")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
