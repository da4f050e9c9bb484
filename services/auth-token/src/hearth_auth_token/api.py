"""HTTP routes of the auth-token service: parse, call a use case, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Header, Path, Response
from fastapi.openapi.models import Example
from fastapi.responses import JSONResponse
from hearth_kit.api import Data, Page, api_router, problems
from hearth_kit.calls import Call, Reader, with_roles, with_scope
from hearth_kit.pagination import PageParams, Pagination, page_response

from hearth_auth_token import service
from hearth_auth_token.domain import SCOPE_INTERNAL_GATEWAY, SCOPE_PLATFORM_ADMIN, ApiKeyIn, OrgIn, plans_view
from hearth_auth_token.models import ApiKey, JsonWebKeySet, NewApiKey, NewOrg, Plan, RotatedKey, TemporaryToken
from hearth_auth_token.runtime import AuthDeps

router = api_router(prefix="/v1", tags=["auth"])
internal_router = api_router(prefix="/internal/v1", tags=["internal"], include_in_schema=False)
public_router = api_router(tags=["keys"])

Sha256Hex = Annotated[str, Path(pattern="^[0-9a-fA-F]{64}$", description="Hex SHA-256 of the key's secret")]
Operator = Annotated[Call, with_scope(SCOPE_PLATFORM_ADMIN, why="the operator key")]
Admin = Annotated[Call, with_roles("admin")]
Gateway = Annotated[Call, with_scope(SCOPE_INTERNAL_GATEWAY)]

ORG_EXAMPLE = {"acme": Example(summary="A customer org", value={"name": "Acme Properties", "plan": "standard"})}
KEY_EXAMPLE = {"integration": Example(summary="A read-only partner key", value={
    "name": "Listing portal", "role": "partner", "scopes": ["units:read"]})}


# --- public ------------------------------------------------------------------------------------


@public_router.get("/.well-known/jwks.json", response_model=JsonWebKeySet)
async def get_jwks(runtime: AuthDeps) -> JSONResponse:
    """Public keys that verify temporary tokens (no authentication: verifiers fetch it)."""
    keys = await runtime.state.current(runtime.db)
    return JSONResponse(keys.jwks(), headers={"Cache-Control": "public, max-age=60"})


# --- operator ----------------------------------------------------------------------------------


@router.post("/admin/orgs", status_code=201, response_model=Data[NewOrg])
async def create_org(body: Annotated[OrgIn, Body(openapi_examples=ORG_EXAMPLE)], call: Operator) -> JSONResponse:
    """Create an org and its first admin API key (operator key only). The secret is shown once."""
    # The operator creates rows of another org: a deliberate cross-org write.
    return await call.create_once(body, lambda tx: service.create_org(tx, body), cross_org=True)


@router.post("/admin/signing-keys/rotate", status_code=201, response_model=Data[RotatedKey],
             responses=problems(409))
async def rotate_signing_key(call: Operator, runtime: AuthDeps) -> JSONResponse:
    """Add a new signing key for temporary tokens; older keys stay published until their tokens expire."""
    key, keys = await runtime.state.rotate(runtime.db)
    return JSONResponse({"data": {"kid": key.kid, "published_kids": [k.kid for k in keys.published]}},
                        status_code=201)


# --- plans -------------------------------------------------------------------------------------


@router.get("/plans", response_model=Page[Plan])
async def list_plans(call: Reader, runtime: AuthDeps) -> JSONResponse:
    """The plans and their request limits per hour (null = unlimited)."""
    items = plans_view(runtime.settings.plan_limits)
    return page_response(items, total=len(items), params=PageParams(page=1, limit=len(items)))


# --- api keys ----------------------------------------------------------------------------------


@router.post("/api-keys", status_code=201, response_model=Data[NewApiKey], responses=problems(409))
async def create_api_key(body: Annotated[ApiKeyIn, Body(openapi_examples=KEY_EXAMPLE)], call: Admin) -> JSONResponse:
    """Create an API key in the caller's org (admins only). The secret is shown once."""
    return await call.create_once(body, lambda tx: service.create_api_key(tx, body))


@router.get("/api-keys", response_model=Page[ApiKey])
async def list_api_keys(call: Annotated[Call, with_roles("admin", "manager")], page: Pagination) -> JSONResponse:
    """The org's API keys, newest first, without secrets (admins and managers)."""
    items, total = await call.read(lambda tx: service.list_api_keys(tx, page=page))
    return page_response(items, total=total, params=page)


@router.delete("/api-keys/{key_id}", status_code=204)
async def revoke_api_key(key_id: str, call: Admin) -> Response:
    """Revoke an API key of the caller's org (admins only; revoking twice is fine)."""
    await call.write(lambda tx: service.revoke_api_key(tx, key_id))
    return Response(status_code=204)


# --- token exchange ----------------------------------------------------------------------------


@router.post("/auth/token", response_model=TemporaryToken, responses=problems(403))
async def exchange_token(
    call: Reader, runtime: AuthDeps,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_permanent_token: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> JSONResponse:
    """Exchange the API key the gateway authenticated for a temporary token (24 h)."""
    presented = service.presented_key(authorization, x_permanent_token)
    row = await call.write(lambda tx: service.exchangeable_key(tx, presented_secret=presented))
    keys = await runtime.state.current(runtime.db)
    return JSONResponse(service.temporary_token(row, keys, runtime.settings))


# --- internal (gateway) ------------------------------------------------------------------------


@internal_router.get("/api-keys/by-hash/{secret_sha256}")
async def identity_by_hash(secret_sha256: Sha256Hex, call: Gateway, runtime: AuthDeps) -> JSONResponse:
    """Who an API key is, by its secret's hash; for the gateway only (scope internal:gateway)."""
    async with call.transaction(cross_org=True) as tx:
        identity = await service.identity_by_hash(tx, digest=secret_sha256.lower(), settings=runtime.settings)
    return JSONResponse({"data": identity})
