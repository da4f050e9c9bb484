"""A typed, documented API: response envelopes, readable operation ids, problem responses, security.

Every service builds its routers with `api_router(...)`. Its routes then:
- must declare a pydantic `response_model` (import time error otherwise; 204 routes excepted), so the
  merged OpenAPI has a schema for every success body — `Data[Building]`, `Page[Unit]`;
- get a readable `operationId` from the function name (`create_building` → `createBuilding`);
- document the problems they can answer as `application/problem+json` with the one shared `Problem`
  schema: 401 and 429 for every authenticated route, 400/422 for routes that take input, 404 for a
  path with an id, 412 for PUT/PATCH/DELETE (If-Match), 403 when an access dependency can refuse, and
  whatever the route adds with `responses=problems(409)`;
- declare both ways to authenticate (`Authorization: Bearer` and `x-permanent-token`) as security;
- document `Location` on 201, `ETag` on single resources, and `If-Match` on writes to one resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from hearth_kit.auth import principal_from_request
from hearth_kit.problems import PROBLEM_JSON

T = TypeVar("T")

PROBLEM_REF = "#/components/schemas/Problem"
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer",
                   "description": "An API key or a temporary token from POST /v1/auth/token"},
    "permanentToken": {"type": "apiKey", "in": "header", "name": "x-permanent-token",
                       "description": "An API key (hk_...)"},
}
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"permanentToken": []}]
_PROBLEM_TEXT = {
    400: "The request is malformed (e.g. not JSON, or a bad Idempotency-Key)",
    401: "No valid credential",
    403: "The caller's role or scopes do not allow this",
    404: "No such resource in the caller's org",
    409: "The change conflicts with the current state",
    412: "If-Match names another version than the current one",
    422: "The input breaks a rule; `errors` names each field",
    429: "Rate limit exceeded; see the RateLimit headers",
}
_ONE_RESOURCE_WRITES = {"PUT", "PATCH", "DELETE"}


class ProblemDetail(BaseModel):
    """An RFC 9457 problem document: every error a Hearth API answers has this shape."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="URI naming the kind of problem", examples=["https://hearth.dev/problems/not-found"])
    title: str = Field(description="Short summary of the kind of problem")
    status: int = Field(description="The HTTP status")
    detail: str = Field(description="What went wrong, for a human")
    instance: str | None = Field(default=None, description="The request path")
    request_id: str | None = Field(default=None, description="Quote it when asking for help")
    errors: list[dict[str, Any]] | None = Field(default=None, description="One entry per offending field")


class Data(BaseModel, Generic[T]):
    """A single-resource response: `{"data": ...}`."""

    data: T


class PageMeta(BaseModel):
    """Where a page sits in the whole list."""

    total: int
    page: int
    limit: int
    total_capped: bool | None = None
    total_cap: int | None = None


class Page(BaseModel, Generic[T]):
    """A list response: `{"data": [...], "meta": {"total", "page", "limit"}}`."""

    data: list[T]
    meta: PageMeta


def problem_response_doc(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI response object of one problem status."""
    return {"description": description or _PROBLEM_TEXT.get(status, "Problem"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=problems(409)`: the problems a route answers beyond those the kit infers."""
    return {s: problem_response_doc(s) for s in statuses}


def operation_id(name: str) -> str:
    """`create_building` → `createBuilding`."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def declares_problems(*statuses: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a dependency with the problems it can answer (e.g. an access check → 403)."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__hearth_problems__ = statuses  # type: ignore[attr-defined]
        return fn

    return mark


def _dependency_facts(dependant: Any) -> tuple[bool, set[int]]:
    authenticated, statuses = False, set[int]()
    for sub in dependant.dependencies:
        if sub.call is principal_from_request:
            authenticated = True
        statuses.update(getattr(sub.call, "__hearth_problems__", ()))
        sub_auth, sub_statuses = _dependency_facts(sub)
        authenticated = authenticated or sub_auth
        statuses |= sub_statuses
    return authenticated, statuses


class DocumentedRoute(APIRoute):
    """An APIRoute that documents itself as the module docstring says (used by `api_router`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.include_in_schema and self.status_code != 204 and self.response_model is None:
            raise TypeError(f"{self.name} ({path}) must declare response_model=... (a pydantic model)")
        if not self.operation_id:
            self.operation_id = operation_id(self.name)
        authenticated, statuses = _dependency_facts(self.dependant)
        d = self.dependant
        # parameters of dependencies (e.g. paging) are input too
        has_input = bool(get_flat_params(d) or d.body_params)
        if authenticated:
            statuses |= {401, 429}
        if has_input:
            statuses.add(422)
        if d.body_params:
            statuses.add(400)
        if d.path_params:
            statuses.add(404)
        methods = self.methods or set()
        one_resource_write = bool(d.path_params) and bool(methods & _ONE_RESOURCE_WRITES)
        if one_resource_write:
            statuses.add(412)
        for status in statuses:
            self.responses.setdefault(status, problem_response_doc(status))
        extra = dict(self.openapi_extra or {})
        # a public route says so, rather than inheriting a document-wide requirement
        extra.setdefault("security", SECURITY if authenticated else [])
        if one_resource_write:
            extra["parameters"] = [*extra.get("parameters", []), {
                "name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                "description": "Only apply if the resource still has this ETag (412 otherwise)"}]
        if "POST" in methods and self.status_code == 201:
            self.responses.setdefault(422, problem_response_doc(422))  # the key itself can be refused
            extra["parameters"] = [*extra.get("parameters", []), {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "maxLength": 200},
                "description": "Retry-safe create: the same key and body within 24 h get the first answer again"}]
        self.openapi_extra = extra


def api_router(*, prefix: str = "", tags: list[str] | None = None, **kwargs: Any) -> APIRouter:
    """The router every service builds its routes on (documented routes, see module docstring)."""
    return APIRouter(prefix=prefix, tags=list(tags or []), route_class=DocumentedRoute, **kwargs)


_HEADER_DOCS = {
    "Location": {"description": "URL of the created resource", "schema": {"type": "string"}},
    "ETag": {"description": "Version of the resource; send it as If-Match to write safely",
             "schema": {"type": "string"}},
}
_SINGLE = re.compile(r"\{[^}]+\}$")


def _document_headers(doc: dict[str, Any]) -> None:
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            responses = op.get("responses", {})
            if "201" in responses:
                responses["201"].setdefault("headers", {})["Location"] = _HEADER_DOCS["Location"]
            if "200" in responses and _SINGLE.search(path) and method in ("get", "put", "patch"):
                responses["200"].setdefault("headers", {})["ETag"] = _HEADER_DOCS["ETag"]


def install_openapi(app: FastAPI) -> None:
    """Serve an OpenAPI document with the shared Problem schema and the security schemes in it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Problem"] = ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}")
        components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        _document_headers(doc)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
