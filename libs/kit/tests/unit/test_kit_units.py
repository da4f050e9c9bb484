"""Pure kit pieces: ids, settings fallback, internal tokens, problems, pagination."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hearth_kit.auth import InternalTokenSigner, InternalTokenVerifier, Principal, SigningKey, jwks
from hearth_kit.http import create_http_app
from hearth_kit.idempotency import body_hash
from hearth_kit.ids import looks_like, new_id, new_request_id
from hearth_kit.pagination import Pagination, page_body
from hearth_kit.problems import Problem
from hearth_kit.settings import ServiceSettings
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict


def test_ids_are_prefixed_unique_and_ordered() -> None:
    a, b = new_id("bld"), new_id("bld")
    assert a != b and looks_like("bld", a) and not looks_like("unit", a)
    assert len(a) == len("bld_") + 26


def test_request_ids_have_the_id_shape_and_do_not_repeat() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(looks_like("req", i) for i in ids)


def test_service_prefix_wins_over_shared_env(monkeypatch: pytest.MonkeyPatch) -> None:
    class S(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="HEARTH_DEMO_")

    monkeypatch.setenv("HEARTH_KAFKA_BOOTSTRAP", "shared:9092")
    monkeypatch.setenv("HEARTH_DATABASE_URL", "postgresql://shared")
    monkeypatch.setenv("HEARTH_DEMO_DATABASE_URL", "postgresql://own")
    s = S()
    assert (s.kafka_bootstrap, s.database_url) == ("shared:9092", "postgresql://own")


@pytest.mark.parametrize("password", ["hearth", "hearth_property", "changeme", "", "svc_user"])
def test_prod_refuses_dev_and_placeholder_passwords(monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    monkeypatch.setenv("HEARTH_SERVICE_ENVIRONMENT", "prod")
    monkeypatch.setenv("HEARTH_SERVICE_INTERNAL_JWKS", '{"keys": []}')
    monkeypatch.setenv("HEARTH_SERVICE_DATABASE_URL", f"postgresql://svc_user:{password}@db:5432/hearth")
    with pytest.raises(ValueError, match="placeholder password"):
        ServiceSettings()


def test_prod_accepts_a_real_password_and_dev_accepts_the_dev_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_SERVICE_INTERNAL_JWKS", '{"keys": []}')
    monkeypatch.setenv("HEARTH_SERVICE_DATABASE_URL", "postgresql://hearth_property:hearth_property@db/hearth")
    assert ServiceSettings().environment == "dev"
    monkeypatch.setenv("HEARTH_SERVICE_ENVIRONMENT", "prod")
    monkeypatch.setenv("HEARTH_SERVICE_DATABASE_URL", "postgresql://hearth_property:Zq8v-2mW9r-Lt4x@db/hearth")
    assert ServiceSettings().environment == "prod"


def test_internal_token_round_trip_and_rotation() -> None:
    old, new = SigningKey.generate("k1"), SigningKey.generate("k2")
    import json

    verifier = InternalTokenVerifier(json.dumps(jwks(new, old)))
    who = Principal(org_id="org_1", subject="key_1", role="manager", scopes=frozenset({"a"}))
    assert verifier.verify(InternalTokenSigner(old).mint(who)) == who
    assert verifier.verify(InternalTokenSigner(new).mint(who)) == who
    stranger = InternalTokenSigner(SigningKey.generate("k1")).mint(who)
    with pytest.raises(Problem) as bad:
        verifier.verify(stranger)
    assert bad.value.status == 401
    expired = InternalTokenSigner(new, ttl_seconds=-5).mint(who)
    with pytest.raises(Problem):
        verifier.verify(expired)
    wrong_aud = InternalTokenSigner(new, audience="elsewhere").mint(who)
    with pytest.raises(Problem):
        verifier.verify(wrong_aud)


async def test_a_verified_token_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import jwt

    key = SigningKey.generate("k1")
    verifier = InternalTokenVerifier(json.dumps(jwks(key)))
    who = Principal(org_id="org_1", subject="key_1", role="admin", scopes=frozenset())
    token = InternalTokenSigner(key, ttl_seconds=60).mint(who)
    decodes: list[int] = []
    real_decode = jwt.decode

    def counting_decode(*a: Any, **k: Any) -> Any:
        decodes.append(1)
        return real_decode(*a, **k)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert verifier.verify(token) == who
    assert await verifier.verify_async(token) == who
    assert verifier.verify(token) == who
    assert len(decodes) == 1  # the signature was checked once
    with pytest.raises(Problem):  # a different string (one byte of the signature changed) is checked anew
        verifier.verify(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])
    # past `exp` the remembered answer is gone and the real check refuses the token
    import time

    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: real_decode(*a, **{**k, "leeway": -120}))
    with pytest.raises(Problem):
        verifier.verify(token)


def test_verifier_refuses_to_exist_without_keys() -> None:
    with pytest.raises(ValueError, match="JWKS"):
        InternalTokenVerifier("")


def test_body_hash_ignores_key_order() -> None:
    assert body_hash({"a": 1, "b": [1, 2]}) == body_hash({"b": [1, 2], "a": 1})
    assert body_hash({"a": 1}) != body_hash({"a": 2})


class _Thing(BaseModel):
    kind: str
    n: int


def _app() -> FastAPI:
    app = create_http_app(service="unit", max_body_bytes=100)

    @app.post("/things")
    async def things(body: _Thing) -> dict[str, str]:
        return {"kind": body.kind}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.get("/conflict")
    async def conflict() -> None:
        raise Problem(409, "already there", slug="conflict", allowed_next=["done"])

    @app.get("/items")
    async def items(page: Pagination) -> dict[str, object]:
        return page_body(list(range(page.offset, page.offset + page.limit)), total=1000, params=page)

    return app


async def test_every_error_is_problem_json() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post("/things", content=b"{", headers={"content-type": "application/json"})
        assert (r.status_code, r.json()["type"].rsplit("/", 1)[1]) == (400, "malformed-json")
        r = await c.post("/things", json={"kind": "x", "n": "many"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "n"
        r = await c.post("/things", content=b"x" * 101, headers={"content-type": "application/json"})
        assert r.status_code == 413
        r = await c.get("/boom")
        assert r.status_code == 500 and "kaboom" not in r.text
        assert r.headers["content-type"] == "application/problem+json"
        r = await c.get("/conflict")
        assert r.json()["allowed_next"] == ["done"] and r.json()["instance"] == "/conflict"
        r = await c.get("/nowhere")
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        r = await c.get("/items?page=3&limit=5")
        assert r.json() == {"data": [10, 11, 12, 13, 14], "meta": {"total": 1000, "page": 3, "limit": 5}}
        assert r.headers["x-request-id"].startswith("req_")
        r = await c.get("/items", headers={"x-request-id": "abc"})
        assert r.headers["x-request-id"] == "abc"


