"""auth-token against real Postgres and Kafka: orgs, keys, events, token exchange, JWKS, rotation."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import jwt
import pytest
from hearth_auth_token.config import Settings
from hearth_auth_token.keys import KeyRing
from hearth_auth_token.main import build_app
from hearth_contracts.auth import ApiKeyCreated, ApiKeyRevoked, OrgCreated
from hearth_kit.ids import new_id
from hearth_kit.testing import EventReader, Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema

pytestmark = pytest.mark.integration

OPERATOR = frozenset({"platform:admin"})
GATEWAY = frozenset({"internal:gateway"})
PROBLEM = "application/problem+json"
ADMIN_KEY = "test-operator-key-0123456789abcdef"

HarnessFactory = Callable[..., AbstractAsyncContextManager[ServiceHarness]]


@pytest.fixture
def auth_factory(infra: Infra, monkeypatch: pytest.MonkeyPatch) -> HarnessFactory:
    """Starts an auth-token service on a fresh schema, with extra HEARTH_AUTH_* settings."""

    @asynccontextmanager
    async def start(**env: str) -> AsyncIterator[ServiceHarness]:
        monkeypatch.delenv("HEARTH_AUTH_SIGNING_KEYS", raising=False)
        monkeypatch.setenv("HEARTH_AUTH_ADMIN_KEY", ADMIN_KEY)
        for name, value in env.items():
            monkeypatch.setenv(f"HEARTH_AUTH_{name.upper()}", value)
        async with service_harness(infra, schema=unique_schema("auth"), prefix="HEARTH_AUTH_", build_app=build_app,
                                   monkeypatch_env=monkeypatch.setenv) as harness:
            yield harness

    return start


@pytest.fixture
async def auth(auth_factory: HarnessFactory) -> AsyncIterator[ServiceHarness]:
    """One auth-token service (own schema) per test."""
    async with auth_factory() as harness:
        yield harness


def operator(h: ServiceHarness) -> dict[str, str]:
    return h.headers(org_id="org_platform", role="admin", subject="key_platform_admin", scopes=OPERATOR)


def gateway(h: ServiceHarness) -> dict[str, str]:
    return h.headers(org_id="org_platform", role="admin", subject="gateway", scopes=GATEWAY)


async def new_org(h: ServiceHarness, plan: str = "professional") -> tuple[str, dict[str, Any]]:
    resp = await h.client.post("/v1/admin/orgs", json={"name": "Acme Homes", "plan": plan}, headers=operator(h))
    assert resp.status_code == 201, resp.text
    data = resp.json()["data"]
    return data["org"]["id"], data["api_key"]


async def new_key(h: ServiceHarness, org_id: str, **body: Any) -> dict[str, Any]:
    payload = {"name": "integration", "role": "manager", **body}
    resp = await h.client.post("/v1/api-keys", json=payload, headers=h.headers(org_id=org_id, role="admin"))
    assert resp.status_code == 201, resp.text
    key: dict[str, Any] = resp.json()["data"]
    return key


async def exchange(h: ServiceHarness, org_id: str, key: dict[str, Any], **extra: str) -> Any:
    headers = {**h.headers(org_id=org_id, role=key["role"], subject=key["id"]), **extra}
    return await h.client.post("/v1/auth/token", headers=headers)


async def verify(h: ServiceHarness, token: str) -> dict[str, Any]:
    """Verify a temporary token as the gateway does: with the public JWKS document."""
    resp = await h.client.get("/.well-known/jwks.json")
    assert resp.status_code == 200
    keys = {k.key_id: k for k in jwt.PyJWKSet.from_dict(resp.json()).keys}
    kid = jwt.get_unverified_header(token)["kid"]
    claims: dict[str, Any] = jwt.decode(token, keys[kid].key, algorithms=["EdDSA"], audience="hearth-api",
                                        issuer="hearth-auth")
    return claims


async def count(h: ServiceHarness, table: str, where: str = "TRUE", *args: Any) -> int:
    """Rows of every org (the admin role is not subject to RLS)."""
    conn: asyncpg.Connection = await asyncpg.connect(h.admin_url, server_settings={"search_path": h.schema})
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", *args))
    finally:
        await conn.close()


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- orgs --------------------------------------------------------------------------------------


async def test_operator_creates_an_org_with_its_admin_key_announced_on_kafka(auth: ServiceHarness,
                                                                              infra: Infra) -> None:
    async with EventReader(infra.kafka_bootstrap, "auth.events") as reader:
        org_id, key = await new_org(auth, plan="enterprise")
        events = await reader.wait_for(lambda k, e: e.subject in (org_id, key["id"]), count=2)
    assert org_id.startswith("org_") and key["id"].startswith("key_")
    assert key["secret"].startswith("hk_live_") and key["prefix"] == key["secret"][:12]
    assert (key["role"], key["scopes"], key["revoked_at"]) == ("admin", [], None)
    by_type = {e.type: (k, e) for k, e in events}
    k, org_event = by_type["hearth.org.created.v1"]
    assert k == org_id.encode() and org_event.orgid == org_id and org_event.source == "hearth/auth-token"
    assert org_event.data_as(OrgCreated).plan == "enterprise"
    k, key_event = by_type["hearth.api_key.created.v1"]
    created = key_event.data_as(ApiKeyCreated)
    assert k == key["id"].encode()
    assert (created.org_id, created.plan, created.role) == (org_id, "enterprise", "admin")
    assert created.secret_sha256 == sha(key["secret"])
    assert key["secret"] not in key_event.model_dump_json()
    # only the hash is stored
    assert await count(auth, "api_keys", "secret_sha256 = $1", sha(key["secret"])) == 1
    assert await count(auth, "api_keys", "position($1 in api_keys::text) > 0", key["secret"]) == 0


async def test_org_creation_needs_the_operator_scope_and_a_known_plan(auth: ServiceHarness) -> None:
    body = {"name": "Acme", "plan": "standard"}
    resp = await auth.client.post("/v1/admin/orgs", json=body, headers=auth.headers(org_id=new_id("org")))
    assert resp.status_code == 403 and resp.headers["content-type"] == PROBLEM
    resp = await auth.client.post("/v1/admin/orgs", json={"name": "Acme", "plan": "gold"}, headers=operator(auth))
    assert resp.status_code == 422 and resp.headers["content-type"] == PROBLEM
    assert resp.json()["errors"][0]["field"] == "plan"
    resp = await auth.client.post("/v1/admin/orgs", json=body)
    assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")
    assert await count(auth, "orgs") == 0
    assert await count(auth, "outbox") == 0


async def test_org_creation_replays_by_idempotency_key_without_the_secret(auth: ServiceHarness) -> None:
    headers = {**operator(auth), "Idempotency-Key": "org-1"}
    first = await auth.client.post("/v1/admin/orgs", json={"name": "A", "plan": "test"}, headers=headers)
    again = await auth.client.post("/v1/admin/orgs", json={"name": "A", "plan": "test"}, headers=headers)
    other = await auth.client.post("/v1/admin/orgs", json={"name": "B", "plan": "test"}, headers=headers)
    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 422)
    assert first.json()["data"]["api_key"]["secret"].startswith("hk_live_")
    assert again.json()["data"]["api_key"]["secret"] is None  # shown once, never stored
    assert again.json()["data"]["org"] == first.json()["data"]["org"]
    assert await count(auth, "orgs") == 1
    secret = first.json()["data"]["api_key"]["secret"]
    assert await count(auth, "idempotency_keys", "position($1 in body::text) > 0", secret) == 0
    assert await count(auth, "idempotency_keys") == 1


# --- api keys ----------------------------------------------------------------------------------


async def test_keys_are_created_listed_without_secrets_and_revoked(auth: ServiceHarness, infra: Infra) -> None:
    org_id, admin_key = await new_org(auth)
    key = await new_key(auth, org_id, scopes=["units:read", "buildings:read"])
    assert key["secret"].startswith("hk_live_")
    assert (key["role"], key["scopes"]) == ("manager", ["buildings:read", "units:read"])

    listed = await auth.client.get("/v1/api-keys?page=1&limit=1", headers=auth.headers(org_id=org_id, role="manager"))
    assert listed.status_code == 200
    doc = listed.json()
    assert doc["meta"] == {"total": 2, "page": 1, "limit": 1}
    assert [k["id"] for k in doc["data"]] == [key["id"]]
    assert "secret" not in listed.text and sha(key["secret"]) not in listed.text
    assert set(doc["data"][0]) == {"id", "name", "role", "scopes", "prefix", "created_at", "last_used_at",
                                   "revoked_at", "member_id"}
    technician = auth.headers(org_id=org_id, role="technician")
    assert (await auth.client.get("/v1/api-keys", headers=technician)).status_code == 403
    resp = await auth.client.post("/v1/api-keys", json={"name": "x", "role": "admin"},
                                  headers=auth.headers(org_id=org_id, role="manager"))
    assert resp.status_code == 403

    other_org, _ = await new_org(auth)
    assert (await auth.client.delete(f"/v1/api-keys/{key['id']}",
                                     headers=auth.headers(org_id=other_org))).status_code == 404
    assert (await auth.client.delete("/v1/api-keys/key_unknown",
                                     headers=auth.headers(org_id=org_id))).status_code == 404

    async with EventReader(infra.kafka_bootstrap, "auth.events") as reader:
        resp = await auth.client.delete(f"/v1/api-keys/{key['id']}", headers=auth.headers(org_id=org_id))
        assert resp.status_code == 204
        [(k, env)] = await reader.wait_for(
            lambda k, e: e.type == "hearth.api_key.revoked.v1" and e.subject == key["id"])
        assert k == key["id"].encode() and env.orgid == org_id
        revoked = env.data_as(ApiKeyRevoked)
        assert (revoked.key_id, revoked.secret_sha256) == (key["id"], sha(key["secret"]))
        again = await auth.client.delete(f"/v1/api-keys/{key['id']}", headers=auth.headers(org_id=org_id))
        assert again.status_code == 204
        with pytest.raises(TimeoutError):  # revoking twice announces once
            await reader.wait_for(lambda k, e: e.type == "hearth.api_key.revoked.v1" and e.subject == key["id"],
                                  count=2, timeout=2)
    listed = (await auth.client.get("/v1/api-keys", headers=auth.headers(org_id=org_id))).json()["data"]
    assert {k["id"]: k["revoked_at"] is not None for k in listed} == {key["id"]: True, admin_key["id"]: False}


async def test_bad_key_input_is_a_problem_and_writes_nothing(auth: ServiceHarness) -> None:
    org_id, _ = await new_org(auth)
    headers = auth.headers(org_id=org_id)
    before = (await count(auth, "api_keys"), await count(auth, "outbox_sequence"))
    cases: list[tuple[Any, int]] = [
        ({"name": "x", "role": "owner"}, 422),
        ({"name": "", "role": "admin"}, 422),
        ({"name": "x", "role": "admin", "scopes": ["platform:admin"]}, 422),
        ({"name": "x", "role": "admin", "extra": 1}, 422),
        ("{not json", 400),
    ]
    for body, status in cases:
        if isinstance(body, str):
            resp = await auth.client.post("/v1/api-keys", content=body,
                                          headers={**headers, "content-type": "application/json"})
        else:
            resp = await auth.client.post("/v1/api-keys", json=body, headers=headers)
        assert resp.status_code == status, (body, resp.text)
        assert resp.headers["content-type"] == PROBLEM
    assert (await count(auth, "api_keys"), await count(auth, "outbox_sequence")) == before


async def test_a_key_needs_a_registered_org(auth: ServiceHarness) -> None:
    resp = await auth.client.post("/v1/api-keys", json={"name": "x", "role": "admin"},
                                  headers=auth.headers(org_id=new_id("org")))
    assert resp.status_code == 409 and resp.json()["type"].endswith("/org-not-registered")


async def test_plans_are_listed_for_any_caller(auth: ServiceHarness) -> None:
    resp = await auth.client.get("/v1/plans", headers=auth.headers(org_id=new_id("org"), role="partner"))
    assert resp.status_code == 200
    assert {p["name"]: p["rate_limit_per_hour"] for p in resp.json()["data"]} == {
        "standard": 1000, "professional": 5000, "enterprise": None, "test": 5}


# --- gateway lookup ----------------------------------------------------------------------------


async def test_gateway_looks_up_identity_by_hash(auth: ServiceHarness) -> None:
    org_id, _ = await new_org(auth, plan="standard")
    key = await new_key(auth, org_id, role="technician", scopes=["requests:write"])
    url = f"/internal/v1/api-keys/by-hash/{sha(key['secret'])}"
    resp = await auth.client.get(url, headers=gateway(auth))
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == {"key_id": key["id"], "org_id": org_id, "role": "technician",
                                   "scopes": ["requests:write"], "plan": "standard", "rate_limit_per_hour": 1000,
                                   "revoked": False, "member_id": None}
    assert (await auth.client.get(url, headers=auth.headers(org_id=org_id))).status_code == 403
    assert (await auth.client.get(url, headers=operator(auth))).status_code == 403
    assert (await auth.client.get(url)).status_code == 401
    unknown = await auth.client.get(f"/internal/v1/api-keys/by-hash/{sha('nope')}", headers=gateway(auth))
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    assert (await auth.client.get("/internal/v1/api-keys/by-hash/xyz", headers=gateway(auth))).status_code == 422

    await auth.client.delete(f"/v1/api-keys/{key['id']}", headers=auth.headers(org_id=org_id))
    assert (await auth.client.get(url, headers=gateway(auth))).json()["data"]["revoked"] is True

    operator_identity = await auth.client.get(f"/internal/v1/api-keys/by-hash/{sha(ADMIN_KEY)}",
                                              headers=gateway(auth))
    assert operator_identity.json()["data"]["scopes"] == ["platform:admin"]


# --- token exchange ----------------------------------------------------------------------------


async def test_exchange_returns_a_temporary_token_that_verifies_with_the_jwks(auth: ServiceHarness) -> None:
    org_id, _ = await new_org(auth, plan="professional")
    key = await new_key(auth, org_id, scopes=["units:read"])
    resp = await exchange(auth, org_id, key, **{"x-permanent-token": key["secret"]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 86_400)
    claims = await verify(auth, body["temporary_token"])
    assert claims["exp"] == body["expires_at"] and claims["exp"] - claims["iat"] == 86_400
    assert (claims["sub"], claims["org"], claims["role"], claims["scopes"]) == (key["id"], org_id, "manager",
                                                                                ["units:read"])
    assert (claims["plan"], claims["rate_limit_per_hour"]) == ("professional", 5000)
    listed = (await auth.client.get("/v1/api-keys", headers=auth.headers(org_id=org_id))).json()["data"]
    assert next(k for k in listed if k["id"] == key["id"])["last_used_at"] is not None

    # A temporary token cannot buy another one.
    temp = auth.headers(org_id=org_id, role="manager", subject=key["id"], scopes=frozenset({"token:temporary"}))
    resp = await auth.client.post("/v1/auth/token", headers=temp)
    assert resp.status_code == 403 and resp.json()["type"].endswith("/temporary-token-not-exchangeable")
    # The passed-through key must be the authenticated one.
    other = await new_key(auth, org_id)
    resp = await exchange(auth, org_id, key, authorization=f"Bearer {other['secret']}")
    assert resp.status_code == 401
    # The operator key has no row to exchange.
    assert (await auth.client.post("/v1/auth/token", headers=operator(auth))).status_code == 401


async def test_a_revoked_key_cannot_be_exchanged(auth: ServiceHarness) -> None:
    org_id, _ = await new_org(auth)
    key = await new_key(auth, org_id)
    assert (await auth.client.delete(f"/v1/api-keys/{key['id']}", headers=auth.headers(org_id=org_id))).status_code \
        == 204
    resp = await exchange(auth, org_id, key)
    assert resp.status_code == 401
    assert resp.headers["content-type"] == PROBLEM and resp.headers["www-authenticate"].startswith("Bearer")
    # another org's key id is unknown here
    other_org, _ = await new_org(auth)
    live = await new_key(auth, org_id)
    assert (await exchange(auth, other_org, live)).status_code == 401


async def test_temporary_tokens_expire(auth_factory: HarnessFactory) -> None:
    async with auth_factory(temp_token_ttl_seconds="1") as auth:
        org_id, _ = await new_org(auth)
        key = await new_key(auth, org_id)
        body = (await exchange(auth, org_id, key)).json()
        assert body["expires_in"] == 1
        await verify(auth, body["temporary_token"])
        await asyncio.sleep(2.1)
        with pytest.raises(jwt.ExpiredSignatureError):
            await verify(auth, body["temporary_token"])


# --- signing keys ------------------------------------------------------------------------------


async def test_rotation_signs_with_a_new_key_and_old_tokens_still_verify(auth: ServiceHarness) -> None:
    org_id, _ = await new_org(auth)
    key = await new_key(auth, org_id)
    old = (await exchange(auth, org_id, key)).json()["temporary_token"]
    jwks_before = (await auth.client.get("/.well-known/jwks.json")).json()
    assert len(jwks_before["keys"]) == 1
    assert jwks_before["keys"][0]["alg"] == "EdDSA" and "d" not in jwks_before["keys"][0]

    denied = await auth.client.post("/v1/admin/signing-keys/rotate", headers=auth.headers(org_id=org_id))
    assert denied.status_code == 403
    rotated = await auth.client.post("/v1/admin/signing-keys/rotate", headers=operator(auth))
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["data"]["kid"]

    new = (await exchange(auth, org_id, key)).json()["temporary_token"]
    old_kid = jwt.get_unverified_header(old)["kid"]
    assert jwt.get_unverified_header(new)["kid"] == new_kid != old_kid
    kids = {k["kid"] for k in (await auth.client.get("/.well-known/jwks.json")).json()["keys"]}
    assert kids == {old_kid, new_kid}
    assert (await verify(auth, old))["sub"] == (await verify(auth, new))["sub"] == key["id"]

    # Another replica (or a restart) on the same schema signs with the same, newest key.
    runtime = auth.app.state.runtime
    replica = await KeyRing(Settings()).current(runtime.db)
    assert replica.signer.kid == new_kid
    assert {k.kid for k in replica.published} == kids


async def test_generated_signing_keys_are_encrypted_at_rest(auth_factory: HarnessFactory) -> None:
    from cryptography.fernet import Fernet

    old_kek, new_kek = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    async with auth_factory(key_encryption_keys=json.dumps([old_kek])) as auth:
        org_id, _ = await new_org(auth)
        key = await new_key(auth, org_id)
        token = (await exchange(auth, org_id, key)).json()["temporary_token"]
        assert (await verify(auth, token))["sub"] == key["id"]
        async with auth.raw() as conn:
            stored = await conn.fetchval("SELECT private_pem FROM signing_keys")
        assert stored.startswith("fernet:") and "PRIVATE KEY" not in stored
        db = auth.app.state.runtime.db
        # KEK rotation: a new key in front, the old one still decrypts what it sealed
        rotated = await KeyRing(Settings(key_encryption_keys=[new_kek, old_kek])).current(db)
        assert rotated.signer.kid == jwt.get_unverified_header(token)["kid"]
        # without the right key-encryption key, a replica refuses to use the table, saying why
        with pytest.raises(RuntimeError, match="HEARTH_AUTH_KEY_ENCRYPTION_KEYS is not set"):
            await KeyRing(Settings(key_encryption_keys=[])).current(db)
        with pytest.raises(RuntimeError, match="cannot be opened"):
            await KeyRing(Settings(key_encryption_keys=[new_kek])).current(db)


def test_prod_refuses_plain_text_signing_keys_and_bad_encryption_keys() -> None:
    with pytest.raises(ValueError, match="KEY_ENCRYPTION_KEYS"):
        Settings(environment="prod", admin_key="x" * 30, internal_jwks="{}", key_encryption_keys=[],
                 database_url="postgresql://hearth_auth:a-long-real-secret@db:5432/hearth")
    with pytest.raises(ValueError, match="Fernet"):
        Settings(key_encryption_keys=["not-a-key"])


async def test_a_revoked_callers_key_cannot_create_keys_and_the_gateway_sees_it_by_id(auth: ServiceHarness) -> None:
    org_id, _ = await new_org(auth)
    admin_key = await new_key(auth, org_id, role="admin")
    as_admin = auth.headers(org_id=org_id, role="admin", subject=admin_key["id"])
    by_id = f"/internal/v1/orgs/{org_id}/api-keys/{admin_key['id']}"
    assert (await auth.client.get(by_id, headers=as_admin)).status_code == 403  # gateway scope only
    before = await auth.client.get(by_id, headers=gateway(auth))
    assert before.status_code == 200 and before.json()["data"]["revoked"] is False
    assert (await auth.client.delete(f"/v1/api-keys/{admin_key['id']}", headers=as_admin)).status_code == 204
    after = await auth.client.get(by_id, headers=gateway(auth))
    assert after.json()["data"]["revoked"] is True
    refused = await auth.client.post("/v1/api-keys", json={"name": "x", "role": "manager"}, headers=as_admin)
    assert refused.status_code == 401 and refused.json()["type"].endswith("/token-revoked")
    assert refused.headers["www-authenticate"] == "Bearer"
    missing = await auth.client.get(f"/internal/v1/orgs/{org_id}/api-keys/key_nope", headers=gateway(auth))
    assert missing.status_code == 404
