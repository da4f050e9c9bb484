from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from hearth_access.simulator.server import running_simulator


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
