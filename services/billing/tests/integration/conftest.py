from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hearth_billing.main import build_app
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema


@pytest.fixture(scope="module")
async def bill(infra: Infra) -> AsyncIterator[ServiceHarness]:
    """One billing service (own schema) per test module; tests isolate by org. The posting job is slowed down:
    tests run it themselves with a chosen `today`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEARTH_BILLING_POSTING_INTERVAL_SECONDS", "3600")
        mp.setenv("HEARTH_BILLING_PROJECTION_WAIT_SECONDS", "0.3")
        async with service_harness(
            infra, schema=unique_schema("billing"), prefix="HEARTH_BILLING_", build_app=build_app,
            monkeypatch_env=mp.setenv,
        ) as harness:
            yield harness
