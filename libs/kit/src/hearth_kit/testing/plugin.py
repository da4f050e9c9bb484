"""pytest plugin: one Kafka + one Postgres per test run (`infra`), started lazily, stopped at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hearth_kit.ids import new_id
from hearth_kit.testing.infra import Infra, start_infra


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """The run's real Kafka and Postgres (only integration tests ask for it)."""
    started = start_infra()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def org_id() -> str:
    """A fresh org per test: the isolation unit."""
    return new_id("org")


def unique_schema(base: str) -> str:
    """A schema name no earlier run used (tests never share state through Postgres)."""
    return f"{base}_{new_id('t')[-8:]}"
