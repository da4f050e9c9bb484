"""The app's shape: every endpoint async, every operation named and typed, money documented as strings."""

from __future__ import annotations

from hearth_billing.config import Settings
from hearth_billing.main import build_app
from hearth_kit.testing.handlers import blocking_handlers
from hearth_kit.testing.services import TEST_JWKS


def test_no_endpoint_or_dependency_runs_in_the_thread_pool() -> None:
    assert blocking_handlers(build_app(Settings(internal_jwks=TEST_JWKS))) == []


def test_every_operation_has_an_id_and_a_typed_response() -> None:
    spec = build_app(Settings(internal_jwks=TEST_JWKS)).openapi()
    ops = [(path, method, op) for path, item in spec["paths"].items() if path.startswith("/v1/")
           for method, op in item.items()]
    assert {p for p, _, _ in ops} >= {"/v1/charges", "/v1/payments", "/v1/balances", "/v1/billing-settings",
                                      "/v1/leases/{lease_id}/ledger", "/v1/residents/{resident_id}/balance"}
    for path, method, op in ops:
        assert op.get("operationId") and "_" not in op["operationId"], (path, method)
        ok = op["responses"].get("200") or op["responses"].get("201")
        assert ok and "$ref" in str(ok["content"]["application/json"]["schema"]), (path, method)
    money = spec["components"]["schemas"]["MoneyIn"]["properties"]["amount"]
    assert money["type"] == "string"
