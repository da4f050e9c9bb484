"""Pure gateway rules: routing (wildcards, specificity), policy, token shapes, rate-limit math and headers,
forwarded headers, redirects, plans, OpenAPI merge."""

from __future__ import annotations

from pathlib import Path

import pytest
from hearth_contracts.auth import PLAN_LIMITS, PLANS, SCOPE_PLATFORM_ADMIN, plan_limit
from hearth_gateway.forwarding import HOP_BY_HOP, REQUEST_DROP, forward_headers, public_location
from hearth_gateway.identity import Identity
from hearth_gateway.openapi import merge_openapi
from hearth_gateway.policy import authorize, bearer_token, classify_token
from hearth_gateway.ratelimit import rate_decision, window_start
from hearth_gateway.routing import RouteTable, load_route_table

PLATFORM_ADMIN_SCOPE = SCOPE_PLATFORM_ADMIN

ROUTES = RouteTable.from_prefixes({
    "/v1/buildings": ("property", "http://property:1/"), "/v1/buildings/special": ("special", "http://special:2"),
    "/v1/auth": ("auth", "http://auth:3"), "/v1/admin": ("auth", "http://auth:3"),
    "/v1/leases": ("property", "http://property:1"), "/v1/leases/*/ledger": ("billing", "http://billing:4"),
    "/v1/leases/*/ledger/*/raw": ("raw", "http://raw:5"), "/v1/*/audit": ("audit", "http://audit:6"),
    "/v1/*/*/ledger": ("any-ledger", "http://any:7"),
})


@pytest.mark.parametrize(("path", "expected"), [
    ("/v1/buildings", "property"),
    ("/v1/buildings/bld_1", "property"),
    ("/v1/buildings/special", "special"),
    ("/v1/buildings/special/x", "special"),
    ("/v1/buildings/specialist", "property"),
    ("/v1/auth/token", "auth"),
    ("/v1/buildingsx", None),
    ("/v1/unknown", None),
    ("/v1", None),
    ("/v1/leases", "property"),
    ("/v1/leases/lse_1", "property"),
    ("/v1/leases/lse_1/ledger", "billing"),
    ("/v1/leases/lse_1/ledger/entries", "billing"),
    ("/v1/leases/lse_1/ledgers", "property"),
    ("/v1/leases//ledger", "property"),  # `*` needs a non-empty segment
    ("/v1/leases/lse_1/ledger/x/raw", "raw"),  # more segments: more specific
    ("/v1/leases/audit", "audit"),  # deeper wins, wildcard or not
    ("/v1/leases/l1/ledger", "billing"),  # equal depth: more literal segments win over "/v1/*/audit"-like ones
    ("/v1/units/audit", "audit"),
])
def test_most_specific_prefix_wins_on_whole_segments_with_wildcards(path: str, expected: str | None) -> None:
    matched = ROUTES.match(path)
    assert (matched.service if matched else None) == expected
    assert ROUTES.match(path) is matched  # (and the cached answer is the same)


def test_the_route_table_comes_from_the_platform_file(tmp_path: Path) -> None:
    toml = tmp_path / "platform.toml"
    toml.write_text(
        '[services.auth-token]\nport = 8101\nroutes = ["/v1/auth", "/.well-known"]\n'
        '[services.property]\nport = 8102\nroutes = ["/v1/leases"]\n'
        '[services.billing]\nport = 8106\nroutes = ["/v1/leases/*/ledger"]\n'
        '[services.gateway]\nport = 8080\nroutes = []\n')
    table = load_route_table(toml, url_template="http://{service}:{port}", upstreams={"billing": "http://b:1/"})
    assert table.services() == {"auth-token": "http://auth-token:8101", "property": "http://property:8102",
                                "billing": "http://b:1"}
    assert table.match("/v1/leases/l1/ledger").service == "billing"  # type: ignore[union-attr]
    assert table.match("/.well-known/jwks.json").public  # type: ignore[union-attr]
    assert table.match("/v1/orgs") is None


def test_the_repository_platform_file_routes_no_orgs_and_serves_the_jwks() -> None:
    repo = Path(__file__).resolve().parents[4]
    table = load_route_table(repo / "deploy" / "platform.toml", url_template="http://{service}:{port}", upstreams={})
    assert table.match("/v1/orgs") is None
    assert table.match("/.well-known/jwks.json").service == "auth-token"  # type: ignore[union-attr]


def ident(role: str = "manager", scopes: frozenset[str] = frozenset()) -> Identity:
    return Identity(key_id="key_1", org_id="org_1", role=role, scopes=scopes)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_partner_may_not_write(method: str) -> None:
    denial = authorize(method=method, path="/v1/buildings", identity=ident("partner"))
    assert denial is not None and denial.slug == "read-only-role"


@pytest.mark.parametrize("method", ["GET", "HEAD", "get"])
def test_partner_may_read(method: str) -> None:
    assert authorize(method=method, path="/v1/buildings", identity=ident("partner")) is None


def test_partner_may_exchange_its_key_for_a_temporary_token() -> None:
    assert authorize(method="POST", path="/v1/auth/token", identity=ident("partner")) is None
    assert authorize(method="POST", path="/v1/auth/token/x", identity=ident("partner")) is not None


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
    assert "retry-after" not in last.header_dict()
    assert last.header_dict()["ratelimit"] == '"hourly";r=0;t=1800'
    denied = rate_decision(limit=5, count=None, now=now, window_seconds=3600)
    assert not denied.allowed
    assert denied.header_dict() == {
        "ratelimit-policy": '"hourly";q=5;w=3600', "ratelimit": '"hourly";r=0;t=1800',
        "ratelimit-limit": "5", "ratelimit-remaining": "0", "ratelimit-reset": "1800", "retry-after": "1800"}
    # the last second of a window still says "1", never 0
    assert rate_decision(limit=5, count=1, now=10799.9, window_seconds=3600).reset_seconds == 1


def test_plan_limits_come_from_one_table() -> None:
    assert set(PLAN_LIMITS) == set(PLANS)
    assert plan_limit("standard") == 1000 and plan_limit("enterprise") is None and plan_limit("test") == 5
    assert plan_limit("mystery") == 5  # unknown: the lowest finite limit, never unlimited
    assert plan_limit("standard", {"standard": 7}) == 7


def test_temporary_token_callers_carry_the_temporary_scope() -> None:
    i = Identity(key_id="k", org_id="o", role="admin", scopes=frozenset({"a"}), temporary=True)
    assert i.forwarded_scopes == {"a", "token:temporary"}
    assert ident().forwarded_scopes == frozenset()


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    headers = [(b"connection", b"keep-alive, X-Private"), (b"x-private", b"1"), (b"keep-alive", b"5"),
               (b"transfer-encoding", b"chunked"), (b"upgrade", b"h2c"), (b"accept", b"*/*"),
               (b"x-hearth-internal-token", b"forged")]
    drop = HOP_BY_HOP | {b"x-hearth-internal-token"}
    assert forward_headers(headers, drop=drop) == [(b"accept", b"*/*")]


@pytest.mark.parametrize("name", [b"forwarded", b"x-real-ip", b"x-forwarded-port", b"x-forwarded-prefix",
                                  b"x-original-url", b"x-http-method-override", b"x-forwarded-for", b"host",
                                  b"x-hearth-internal-token", b"x-hearth-route"])
def test_identity_and_address_claims_from_callers_are_dropped(name: bytes) -> None:
    assert forward_headers([(name, b"spoofed"), (b"accept", b"*/*")], drop=REQUEST_DROP) == [(b"accept", b"*/*")]


@pytest.mark.parametrize(("location", "public"), [
    (b"http://127.0.0.1:8102/v1/buildings", b"/v1/buildings"),
    (b"http://127.0.0.1:8102/v1/buildings?page=2", b"/v1/buildings?page=2"),
    (b"http://127.0.0.1:8102", b"/"),
    (b"/v1/buildings", b"/v1/buildings"),
    (b"https://docs.example/x", b"https://docs.example/x"),
    (b"http://127.0.0.1:81020/x", b"http://127.0.0.1:81020/x"),
])
def test_a_redirect_to_a_service_address_is_made_relative(location: bytes, public: bytes) -> None:
    assert public_location(location, (b"http://127.0.0.1:8102", b"http://127.0.0.1:8101")) == public


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
