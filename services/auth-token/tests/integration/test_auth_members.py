"""Members (the org's people) against real Postgres and Kafka: CRUD, events, keys that belong to a member."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from hearth_auth_token.main import build_app
from hearth_kit.ids import new_id
from hearth_kit.testing import EventReader, Infra, ServiceHarness, service_harness
from hearth_kit.testing.plugin import unique_schema

pytestmark = pytest.mark.integration

OPERATOR = frozenset({"platform:admin"})
GATEWAY = frozenset({"internal:gateway"})


@pytest.fixture(scope="module")
async def auth(infra: Infra) -> AsyncIterator[ServiceHarness]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HEARTH_AUTH_SIGNING_KEYS", raising=False)
        mp.setenv("HEARTH_AUTH_ADMIN_KEY", "test-operator-key-0123456789abcdef")
        async with service_harness(infra, schema=unique_schema("auth"), prefix="HEARTH_AUTH_", build_app=build_app,
                                   monkeypatch_env=mp.setenv) as harness:
            yield harness


async def new_org(h: ServiceHarness) -> str:
    resp = await h.client.post("/v1/admin/orgs", json={"name": "Acme", "plan": "professional"},
                               headers=h.headers(org_id="org_platform", subject="key_platform_admin", scopes=OPERATOR))
    assert resp.status_code == 201, resp.text
    return str(resp.json()["data"]["org"]["id"])


def data(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()["data"] if resp.content else None


async def test_member_crud_and_events(auth: ServiceHarness, infra: Infra) -> None:
    org = await new_org(auth)
    h = auth.headers(org_id=org, role="manager")
    async with EventReader(infra.kafka_bootstrap, "auth.events") as reader:
        m = data(await auth.client.post("/v1/members", json={"name": "Tess Tech", "email": "tess@acme.test",
                                                              "phone": "+1 555 0100", "role": "technician"},
                                        headers=h), 201)
        assert m["id"].startswith("mem_") and m["role"] == "technician"
        assert data(await auth.client.get(f"/v1/members/{m['id']}", headers=h)) == m
        updated = data(await auth.client.patch(f"/v1/members/{m['id']}", json={"role": "manager", "phone": None},
                                               headers=h))
        assert (updated["role"], updated["phone"], updated["email"]) == ("manager", None, "tess@acme.test")
        assert [x["id"] for x in data(await auth.client.get("/v1/members?role=manager", headers=h))] == [m["id"]]
        assert data(await auth.client.get("/v1/members?role=technician", headers=h)) == []
        assert (await auth.client.delete(f"/v1/members/{m['id']}", headers=h)).status_code == 204
        assert (await auth.client.get(f"/v1/members/{m['id']}", headers=h)).status_code == 404
        seen = await reader.wait_for(lambda k, e: e.subject == m["id"], count=3)
    assert [e.type for _, e in seen] == ["hearth.member.created.v1", "hearth.member.updated.v1",
                                         "hearth.member.deleted.v1"]
    assert seen[1][1].data["role"] == "manager" and all(e.orgid == org for _, e in seen)


async def test_bad_member_input_and_roles(auth: ServiceHarness) -> None:
    org = await new_org(auth)
    h = auth.headers(org_id=org)
    for body in ({"name": "x", "role": "wizard"}, {"name": "", "role": "technician"},
                 {"name": "x", "role": "technician", "email": "not-an-email"},
                 {"name": "x\x00y", "role": "technician"}, {"name": "x", "role": "technician", "phone": "call me"}):
        resp = await auth.client.post("/v1/members", json=body, headers=h)
        assert resp.status_code == 422, body
    data(await auth.client.post("/v1/members", json={"name": "A", "email": "a@acme.test", "role": "admin"},
                                headers=h), 201)
    dup = await auth.client.post("/v1/members", json={"name": "B", "email": "A@acme.test", "role": "admin"}, headers=h)
    assert dup.status_code == 409
    tech = auth.headers(org_id=org, role="technician")
    assert (await auth.client.get("/v1/members", headers=tech)).status_code == 403
    assert (await auth.client.post("/v1/members", json={"name": "C", "role": "admin"}, headers=tech)).status_code == 403
    assert (await auth.client.get("/v1/members/mem_bad", headers=h)).status_code == 404


async def test_another_orgs_member_is_404(auth: ServiceHarness) -> None:
    mine, theirs = await new_org(auth), await new_org(auth)
    m = data(await auth.client.post("/v1/members", json={"name": "Tess", "role": "technician"},
                                    headers=auth.headers(org_id=mine)), 201)
    other = auth.headers(org_id=theirs)
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        resp = await auth.client.request(method, f"/v1/members/{m['id']}", json=body, headers=other)
        assert resp.status_code == 404
    assert data(await auth.client.get("/v1/members", headers=other)) == []
    key = await auth.client.post("/v1/api-keys", json={"name": "k", "role": "technician", "member_id": m["id"]},
                                 headers=other)
    assert key.status_code == 422


async def test_a_key_of_a_member_names_it_everywhere(auth: ServiceHarness, infra: Infra) -> None:
    org = await new_org(auth)
    h = auth.headers(org_id=org)
    m = data(await auth.client.post("/v1/members", json={"name": "Tess", "role": "technician"}, headers=h), 201)
    async with EventReader(infra.kafka_bootstrap, "auth.events") as reader:
        key = data(await auth.client.post("/v1/api-keys", json={"name": "tess phone", "role": "technician",
                                                                "member_id": m["id"]}, headers=h), 201)
        (_, created), = await reader.wait_for(lambda k, e: e.subject == key["id"])
    assert key["member_id"] == m["id"] and created.data["member_id"] == m["id"]
    digest = hashlib.sha256(key["secret"].encode()).hexdigest()
    ident = data(await auth.client.get(f"/internal/v1/api-keys/by-hash/{digest}",
                                       headers=auth.headers(org_id="org_platform", subject="gateway", scopes=GATEWAY)))
    assert ident["member_id"] == m["id"]
    resp = await auth.client.post("/v1/auth/token", headers=auth.headers(org_id=org, role="technician",
                                                                         subject=key["id"]))
    token = resp.json()
    assert jwt.decode(token["temporary_token"], options={"verify_signature": False})["member_id"] == m["id"]
    # a member with a live key cannot be deleted; once the key is revoked it can
    assert (await auth.client.delete(f"/v1/members/{m['id']}", headers=h)).status_code == 409
    assert (await auth.client.delete(f"/v1/api-keys/{key['id']}", headers=h)).status_code == 204
    assert (await auth.client.delete(f"/v1/members/{m['id']}", headers=h)).status_code == 204
    plain = data(await auth.client.post("/v1/api-keys", json={"name": "k", "role": "manager"}, headers=h), 201)
    assert plain["member_id"] is None
    assert (await auth.client.post("/v1/api-keys", json={"name": "k", "role": "manager", "member_id": new_id("mem")},
                                   headers=h)).status_code == 422
