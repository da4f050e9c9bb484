from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from hearth_kit.ids import new_id
from hearth_kit.messaging import wait_for
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema
from hearth_telemetry.main import build_app
from telemetry_helpers import building

# Short windows so episodes, offline checks and flushes happen within a test's patience.
FAST = {
    "HEARTH_TELEMETRY_OFFLINE_CHECK_SECONDS": "0.3",
    "HEARTH_TELEMETRY_SENSOR_CACHE_SECONDS": "1",
    "HEARTH_TELEMETRY_STREAM_HEARTBEAT_SECONDS": "0.5",
    "HEARTH_TELEMETRY_STREAM_QUEUE_MAX": "5",
    "HEARTH_TELEMETRY_WRITER_FLUSH_MS": "50",
    # a loaded CI machine may take longer than the 2 s a fresh building id is waited for in production
    "HEARTH_TELEMETRY_PROJECTION_WAIT_SECONDS": "10",
    "HEARTH_TELEMETRY_CONSUMER_MAX_ATTEMPTS": "2",
    # each module's writer group reads only what its tests produce, not every earlier module's readings
    "HEARTH_TELEMETRY_WRITER_START": "latest",
}


@pytest.fixture(scope="module")
async def tele(infra: Infra) -> AsyncIterator[ServiceHarness]:
    """One telemetry service (own schema, own consumer groups) per test module; tests isolate by org."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in FAST.items():
            mp.setenv(k, os.environ.get(k, v))
        async with service_harness(
            infra, schema=unique_schema("telemetry"), prefix="HEARTH_TELEMETRY_", build_app=build_app,
            monkeypatch_env=mp.setenv,
        ) as harness:
            await _projection_running(harness, infra)
            await asyncio.wait_for(harness.app.state.runtime.state.writer_ready.wait(), timeout=60)
            yield harness


async def _projection_running(h: ServiceHarness, infra: Infra) -> None:
    """Wait until the property projection consumes (a fresh consumer group takes a moment to join)."""
    org = new_id("org")
    bid = await building(infra, org)

    async def projected() -> bool:
        async with h.raw(org_id=org) as conn:
            return bool(await conn.fetchval("SELECT true FROM buildings WHERE id = $1", bid))

    assert await wait_for(projected, timeout=60), "property projection did not start"
