"""Pure gateway rules: routing, policy, token shapes, rate-limit math, headers, OpenAPI merge."""

from __future__ import annotations

import pytest
from hearth_gateway.domain import (
    HOP_BY_HOP_BYTES,
    PLATFORM_ADMIN_SCOPE,
    Identity,
    RouteTable,
    authorize,
    bearer_token,
    classify_token,
    forward_headers,
    merge_openapi,
    new_traceparent,
    plan_limit,
    rate_decision,
    valid_traceparent,
    window_start,
)

ROUTES = RouteTable({
    "/v1/buildings": "http://property:1/", "/v1/buildings/special": "http://special:2",
    "/v1/auth": "http://auth:3", "/v1/admin": "http://auth:3",
})


@pytest.mark.parametrize(("path", "expected"), [
    ("/v1/buildings", "http://property:1"),
    ("/v1/buildings/bld_1", "http://property:1"),
    ("/v1/buildings/special", "http://special:2"),
    ("/v1/buildings/special/x", "http://special:2"),
    ("/v1/buildings/specialist", "http://property:1"),
    ("/v1/auth/token", "http://auth:3"),
    ("/v1/buildingsx", None),
    ("/v1/unknown", None),
    ("/v1", None),
])
def test_longest_prefix_wins_on_whole_segments(path: str, expected: str | None) -> None:
    matched = ROUTES.match(path)
    assert (matched[1] if matched else None) == expected


def ident(role: str = "manager", scopes: frozenset[str] = frozenset()) -> Identity:
    return Identity(key_id="key_1", org_id="org_1", role=role, scopes=scopes)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_partner_may_not_write(method: str) -> None:
    denial = authorize(method=method, path="/v1/buildings", identity=ident("partner"))
    assert denial is not None and denial.slug == "read-only-role"


@pytest.mark.parametrize("method", ["GET", "HEAD", "get"])
def test_partner_may_read(method: str) -> None:
    assert authorize(method=method, path="/v1/buildings", identity=ident("partner")) is None


def test_admin_routes_need_platform_admin_scope_whatever_the_role() -> None:
    assert authorize(method="GET", path="/v1/admin/orgs", identity=ident("admin")) is not None
    assert authorize(method="GET", path="/v1/admin", identity=ident("admin")) is not None
    assert authorize(method="POST", path="/v1/admin/orgs",
                     identity=ident("admin", frozenset({PLATFORM_ADMIN_SCOPE}))) is None
    assert authorize(method="GET", path="/v1/administrators", identity=ident("admin")) is None
    assert authorize(method="POST", path="/v1/buildings", identity=ident("manager")) is None


@pytest.mark.parametrize(("token", "kind"), [
    ("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJrZXkifQ.c2ln", "jwt"),
    ("hk_live_4f9a8b7c6d5e4f3a2b1c", "api_key"),
    ("abc.def.ghi", "malformed"),
    ("eyJ.a b.c", "malformed"),
    ("a.b", "malformed"),
    ("short", "malformed"),
    ("", "malformed"),
    ("has space inside", "malformed"),
    ("x" * 5000, "malformed"),
    ("ключ-ключ-ключ", "malformed"),
])
def test_token_classification(token: str, kind: str) -> None:
    assert classify_token(token) == kind


def test_bearer_parsing() -> None:
    assert bearer_token(None) is None
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic dXNlcjpwdw==") == ""
    assert bearer_token("Bearer") == ""


def test_rate_window_math_counts_down_and_denies_past_the_limit() -> None:
    now = 7200 + 1800.4  # half-way through a window
    assert window_start(now, 3600) == 7200
    first = rate_decision(limit=5, count=1, now=now, window_seconds=3600)
    assert (first.allowed, first.remaining, first.reset_seconds) == (True, 4, 1800)
    last = rate_decision(limit=5, count=5, now=now, window_seconds=3600)
    assert (last.allowed, last.remaining) == (True, 0)
    assert "Retry-After" not in last.headers()
    denied = rate_decision(limit=5, count=None, now=now, window_seconds=3600)
    assert not denied.allowed
    assert denied.headers() == {"RateLimit-Limit": "5", "RateLimit-Remaining": "0", "RateLimit-Reset": "1800",
                                "Retry-After": "1800"}
    # the last second of a window still says "1", never 0
    assert rate_decision(limit=5, count=1, now=10799.9, window_seconds=3600).reset_seconds == 1


def test_plan_limits() -> None:
    limits = {"standard": 1000, "professional": 5000, "enterprise": None}
    assert plan_limit("standard", None, limits, has_explicit=False) == 1000
    assert plan_limit("enterprise", None, limits, has_explicit=False) is None
    assert plan_limit("mystery", None, limits, has_explicit=False) == 1000
    assert plan_limit("standard", 5, limits, has_explicit=True) == 5
    assert plan_limit("standard", None, limits, has_explicit=True) is None


def test_temporary_token_callers_carry_the_temporary_scope() -> None:
    i = Identity(key_id="k", org_id="o", role="admin", scopes=frozenset({"a"}), temporary=True)
    assert i.forwarded_scopes == {"a", "token:temporary"}
    assert ident().forwarded_scopes == frozenset()


def test_traceparent_validation() -> None:
    tp = new_traceparent()
    assert valid_traceparent(tp)
    assert not valid_traceparent(None)
    assert not valid_traceparent("00-" + "0" * 32 + "-" + "1" * 16 + "-01")
    assert not valid_traceparent("ff-" + "a" * 32 + "-" + "1" * 16 + "-01")
    assert not valid_traceparent("garbage")


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    headers = [(b"connection", b"keep-alive, X-Private"), (b"x-private", b"1"), (b"keep-alive", b"5"),
               (b"transfer-encoding", b"chunked"), (b"upgrade", b"h2c"), (b"accept", b"*/*"),
               (b"x-hearth-internal-token", b"forged")]
    drop = HOP_BY_HOP_BYTES | {b"x-hearth-internal-token"}
    assert forward_headers(headers, drop=drop) == [(b"accept", b"*/*")]


def _doc(schemas: dict[str, object], path: str, ref: str) -> dict[str, object]:
    return {"openapi": "3.1.0", "paths": {path: {"get": {"responses": {"200": {"content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}}}}},
        "components": {"schemas": schemas}}


def test_openapi_merge_unites_paths_and_prefixes_clashing_schemas() -> None:
    same = {"type": "object", "properties": {"detail": {"type": "string"}}}
    prop = _doc({"Item": {"type": "object", "properties": {"units": {"type": "integer"}}}, "Err": same},
                "/v1/buildings", "Item")
    billing = _doc({"Item": {"type": "object", "properties": {"amount": {"type": "string"}}}, "Err": same,
                    "Wrapper": {"properties": {"item": {"$ref": "#/components/schemas/Item"}}}},
                   "/v1/charges", "Item")
    merged = merge_openapi({"property": prop, "billing-api": billing})
    schemas = merged["components"]["schemas"]
    assert set(merged["paths"]) == {"/v1/buildings", "/v1/charges"}
    assert set(schemas) == {"Item", "Err", "Wrapper", "PropertyItem"}
    assert schemas["Item"]["properties"] == {"amount": {"type": "string"}}  # "billing-api" sorts first
    assert schemas["PropertyItem"]["properties"] == {"units": {"type": "integer"}}
    ref = merged["paths"]["/v1/buildings"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ref == {"$ref": "#/components/schemas/PropertyItem"}
    assert "bearer" in merged["components"]["securitySchemes"]
