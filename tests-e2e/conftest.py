"""E2E tests talk only to the gateway of a running platform (`make up`, or scripts/test.sh's copy)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

DEMO = Path(os.environ.get("HEARTH_E2E_DEMO", Path(__file__).resolve().parents[1] / ".run" / "demo.json"))


@pytest.fixture(scope="session")
def demo() -> dict[str, Any]:
    if not DEMO.exists():
        pytest.fail(f"{DEMO} not found: start the platform first (make up) or run make e2e")
    return dict(json.loads(DEMO.read_text()))


@pytest.fixture(scope="session")
async def gw(demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=demo["gateway_url"], timeout=15) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def new_org(gw: httpx.AsyncClient, demo: dict[str, Any], *, plan: str = "professional") -> dict[str, Any]:
    """A fresh org with its admin key: each test works in its own org."""
    resp = await gw.post("/v1/admin/orgs", json={"name": "E2E Org", "plan": plan}, headers=bearer(demo["admin_key"]))
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    return {"org_id": data["org"]["id"], "key": data["api_key"]["secret"], "key_id": data["api_key"]["id"]}


async def new_key(gw: httpx.AsyncClient, admin_key: str, *, role: str) -> dict[str, Any]:
    resp = await gw.post("/v1/api-keys", json={"name": f"{role} key", "role": role}, headers=bearer(admin_key))
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["data"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fault tests (they stop and start the platform's infra) run after every other e2e test."""
    items.sort(key=lambda item: item.get_closest_marker("faults") is not None)
