from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema
from hearth_property.main import build_app


@pytest.fixture(scope="module")
async def prop(infra: Infra) -> AsyncIterator[ServiceHarness]:
    """One property service (own schema) per test module; tests isolate by org."""
    with pytest.MonkeyPatch.context() as mp:
        async with service_harness(
            infra, schema=unique_schema("property"), prefix="HEARTH_PROPERTY_", build_app=build_app,
            monkeypatch_env=mp.setenv,
        ) as harness:
            yield harness
