"""The merged OpenAPI (through the gateway) documents every operation of every service: a schema for the
success body, readable operation ids, and the problem responses as application/problem+json with the one
shared Problem schema. New services are covered the day the gateway routes to them."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

_METHODS = {"get", "put", "post", "patch", "delete"}
_CAMEL = re.compile(r"^[a-z][A-Za-z0-9]*$")


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method in _METHODS]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith("#/components/schemas/"), ref
    name = ref.rsplit("/", 1)[1]
    assert name in doc["components"]["schemas"], f"dangling $ref {ref}"
    return dict(doc["components"]["schemas"][name])


def _problems(doc: dict[str, Any], method: str, path: str, op: dict[str, Any]) -> list[str]:
    where = f"{method} {path}"
    found: list[str] = []
    responses: dict[str, Any] = op.get("responses", {})
    if not _CAMEL.match(op.get("operationId", "")):
        found.append(f"{where}: operationId {op.get('operationId')!r} is not a readable camelCase name")
    success = [s for s in responses if s.startswith("2")]
    if not success:
        found.append(f"{where}: no 2xx response")
    for status in success:
        if status == "204":
            continue
        content = responses[status].get("content", {})
        schema = (content.get("application/json") or {}).get("schema")
        if not schema:
            found.append(f"{where}: {status} has no application/json schema")
            continue
        body = _resolve(doc, schema)
        if not (body.get("properties") or body.get("items") or body.get("anyOf") or body.get("oneOf")):
            found.append(f"{where}: {status} schema is an untyped object")
    for status, response in responses.items():
        if status[0] in "45":
            schema = (response.get("content", {}).get("application/problem+json") or {}).get("schema")
            if schema != {"$ref": "#/components/schemas/Problem"}:
                found.append(f"{where}: {status} is not documented as application/problem+json Problem")
    secured = bool(op.get("security", doc.get("security")))
    has_input = bool(op.get("parameters") or op.get("requestBody"))
    expected = ({"401", "429"} if secured else set()) | ({"422"} if has_input else set())
    expected |= {"404"} if "{" in path else set()
    expected |= {"412"} if "{" in path and method in ("PUT", "PATCH", "DELETE") else set()
    if method in ("POST", "PUT", "PATCH", "DELETE") and secured:
        expected.add("403")
    missing = sorted(expected - set(responses))
    if missing:
        found.append(f"{where}: problem responses not documented: {missing}")
    for requirement in op.get("security", []):
        for scheme in requirement:
            if scheme not in doc["components"].get("securitySchemes", {}):
                found.append(f"{where}: security scheme {scheme!r} is not declared")
    return found


async def test_every_operation_has_a_success_schema_and_documents_its_problems(gw: httpx.AsyncClient) -> None:
    resp = await gw.get("/openapi.json")
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert not doc["info"].get("x-unavailable-services"), doc["info"]
    operations = _operations(doc)
    assert len(operations) >= 30  # property + auth-token at least: the merge did not come back empty
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    schemes = doc["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    assert any(s.get("in") == "header" and s.get("name") == "x-permanent-token" for s in schemes.values())
    found = [p for method, path, op in operations for p in _problems(doc, method, path, op)]
    assert found == [], "\n".join(found)


def test_the_checker_catches_an_undocumented_operation() -> None:
    doc: dict[str, Any] = {"paths": {}, "components": {"schemas": {}, "securitySchemes": {}}}
    op = {"operationId": "create_thing_v1_things_post", "security": [{"bearer": []}],
          "requestBody": {"content": {}},
          "responses": {"201": {"content": {"application/json": {"schema": {
              "type": "object", "additionalProperties": True}}}},
                        "422": {"content": {"application/json": {"schema": {}}}}}}
    found = "\n".join(_problems(doc, "POST", "/v1/things", op))
    for expected in ("operationId", "untyped object", "422 is not documented", "['401', '403', '429']",
                     "'bearer' is not declared"):
        assert expected in found, found
