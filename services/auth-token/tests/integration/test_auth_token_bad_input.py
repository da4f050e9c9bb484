"""Hostile key and org names at auth-token: a 4xx problem, nothing written (#9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from hearth_auth_token.main import build_app
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema

pytestmark = pytest.mark.integration

OPERATOR = frozenset({"platform:admin"})


@pytest.fixture(scope="module")
async def auth(infra: Infra) -> AsyncIterator[ServiceHarness]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HEARTH_AUTH_SIGNING_KEYS", raising=False)
        mp.setenv("HEARTH_AUTH_ADMIN_KEY", "test-operator-key-0123456789abcdef")
        async with service_harness(infra, schema=unique_schema("auth"), prefix="HEARTH_AUTH_", build_app=build_app,
                                   monkeypatch_env=mp.setenv) as harness:
            yield harness


async def _rows(h: ServiceHarness) -> tuple[int, int]:
    conn: asyncpg.Connection = await asyncpg.connect(h.admin_url, server_settings={"search_path": h.schema})
    try:
        return (int(await conn.fetchval("SELECT count(*) FROM api_keys")),
                int(await conn.fetchval("SELECT count(*) FROM outbox_sequence")))
    finally:
        await conn.close()


BAD_NAMES = ["key\u0000", "\u0000", "\u200b", "\ufeff\u200d", "\x07bell", "admin\u202e", "\u2067x"]


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_hostile_key_and_org_names_are_refused(auth: ServiceHarness, name: str) -> None:
    operator = auth.headers(org_id="org_platform", role="admin", subject="key_platform_admin", scopes=OPERATOR)
    created = await auth.client.post("/v1/admin/orgs", json={"name": "Acme", "plan": "standard"}, headers=operator)
    assert created.status_code == 201, created.text
    org_id = created.json()["data"]["org"]["id"]
    before = await _rows(auth)
    attempts: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("/v1/api-keys", {"name": name, "role": "manager"}, auth.headers(org_id=org_id)),
        ("/v1/admin/orgs", {"name": name, "plan": "standard"}, operator),
    ]
    for path, body, headers in attempts:
        resp = await auth.client.post(path, json=body, headers=headers)
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
    assert await _rows(auth) == before
    for path in ("/v1/api-keys/key_%00", "/v1/api-keys?page=1%00"):
        resp = await auth.client.get(path, headers=auth.headers(org_id=org_id))
        assert resp.status_code == 400, resp.text
