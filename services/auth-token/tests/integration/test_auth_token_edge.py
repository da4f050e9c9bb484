"""auth-token's own part of the edge rules: a revoked key's credential cannot create keys here either, and
the gateway can ask for any key's status by id (what it checks behind every temporary token)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hearth_auth_token.main import build_app
from hearth_contracts.auth import PLAN_LIMITS, SCOPE_INTERNAL_GATEWAY, SCOPE_PLATFORM_ADMIN, SCOPE_TEMPORARY
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema

pytestmark = pytest.mark.integration


@pytest.fixture
async def auth(infra: Infra, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ServiceHarness]:
    monkeypatch.delenv("HEARTH_AUTH_SIGNING_KEYS", raising=False)
    async with service_harness(infra, schema=unique_schema("auth"), prefix="HEARTH_AUTH_", build_app=build_app,
                               monkeypatch_env=monkeypatch.setenv) as harness:
        yield harness


async def _org(h: ServiceHarness, plan: str = "standard") -> dict[str, Any]:
    resp = await h.client.post("/v1/admin/orgs", json={"name": "Edge Homes", "plan": plan}, headers=h.headers(
        org_id="org_platform", role="admin", subject="key_platform_admin", scopes=frozenset({SCOPE_PLATFORM_ADMIN})))
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


async def test_a_revoked_keys_credential_cannot_create_a_key(auth: ServiceHarness) -> None:
    org = await _org(auth)
    org_id, admin_key = org["org"]["id"], org["api_key"]["id"]
    as_admin = auth.headers(org_id=org_id, role="admin", subject=admin_key)
    victim = (await auth.client.post("/v1/api-keys", json={"name": "v", "role": "admin"}, headers=as_admin)).json()
    assert (await auth.client.delete(f"/v1/api-keys/{victim['data']['id']}", headers=as_admin)).status_code == 204
    for scopes in (frozenset(), frozenset({SCOPE_TEMPORARY})):  # the key itself, or its temporary token
        resp = await auth.client.post("/v1/api-keys", json={"name": "escape", "role": "admin"}, headers=auth.headers(
            org_id=org_id, role="admin", subject=victim["data"]["id"], scopes=scopes))
        assert resp.status_code == 401, resp.text
        assert resp.json()["type"].endswith("/token-revoked")
    listed = (await auth.client.get("/v1/api-keys", headers=as_admin)).json()["data"]
    assert "escape" not in {k["name"] for k in listed} and len(listed) == 2


async def test_the_gateway_asks_a_keys_status_by_id(auth: ServiceHarness) -> None:
    org = await _org(auth, plan="test")
    org_id, key_id = org["org"]["id"], org["api_key"]["id"]
    gateway = auth.headers(org_id="org_platform", role="admin", subject="gateway",
                           scopes=frozenset({SCOPE_INTERNAL_GATEWAY}))
    resp = await auth.client.get(f"/internal/v1/orgs/{org_id}/api-keys/{key_id}", headers=gateway)
    data = resp.json()["data"]
    assert (data["key_id"], data["org_id"], data["plan"], data["revoked"]) == (key_id, org_id, "test", False)
    assert data["rate_limit_per_hour"] == PLAN_LIMITS["test"]
    assert (await auth.client.get(f"/internal/v1/orgs/org_other/api-keys/{key_id}", headers=gateway)).status_code == 404
    not_gateway = auth.headers(org_id=org_id, role="admin", subject=key_id)
    assert (await auth.client.get(f"/internal/v1/orgs/{org_id}/api-keys/{key_id}",
                                  headers=not_gateway)).status_code == 403
