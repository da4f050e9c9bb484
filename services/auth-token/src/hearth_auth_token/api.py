"""HTTP routes of the auth-token service: parse, call a use case, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from hearth_kit.auth import CurrentPrincipal
from hearth_kit.idempotency import run_idempotent
from hearth_kit.pagination import PageParams, Pagination, page_body
from hearth_kit.problems import Problem
from hearth_kit.routes import IdempotencyKey, traceparent
from hearth_kit.runtime import Deps

from hearth_auth_token import service
from hearth_auth_token.config import Settings
from hearth_auth_token.domain import SCOPE_INTERNAL_GATEWAY, SECRET_PREFIX, ApiKeyIn, OrgIn, plans_view
from hearth_auth_token.keys import KeyRing

router = APIRouter(prefix="/v1", tags=["auth"])
internal_router = APIRouter(prefix="/internal/v1", tags=["internal"], include_in_schema=False)
public_router = APIRouter(tags=["keys"])

Sha256Hex = Annotated[str, Path(pattern="^[0-9a-fA-F]{64}$", description="Hex SHA-256 of the key's secret")]


def _settings(deps: Any) -> Settings:
    settings = deps.settings
    assert isinstance(settings, Settings)
    return settings


def _keyring(request: Request) -> KeyRing:
    keyring: KeyRing = request.app.state.keyring
    return keyring


def _with_secret(doc: dict[str, Any], secret: str | None, *path: str) -> dict[str, Any]:
    """Put the freshly created secret back into the response (a replay has none: it is shown once)."""
    if secret is None:
        return doc
    target = doc
    for part in path:
        target = target[part]
    target["secret"] = secret
    return doc


# --- public ------------------------------------------------------------------------------------


@public_router.get("/.well-known/jwks.json")
async def jwks_document(request: Request, deps: Deps) -> JSONResponse:
    """Public keys that verify temporary tokens (no authentication: verifiers fetch it)."""
    keys = await _keyring(request).current(deps.db)
    return JSONResponse(keys.jwks(), headers={"Cache-Control": "public, max-age=60"})


# --- operator ----------------------------------------------------------------------------------


@router.post("/admin/orgs", status_code=201)
async def create_org(
    body: OrgIn, principal: CurrentPrincipal, deps: Deps, request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create an org and its first admin API key (operator key only). The secret is shown once."""
    service.require_platform_admin(principal)
    secret: str | None = None
    # The operator creates rows of another org: a deliberate cross-org write.
    async with deps.db.system_transaction() as conn:

        async def create() -> tuple[int, Any]:
            nonlocal secret
            doc, secret = await service.create_org(conn, body=body,
                                                   traceparent=traceparent(request))
            return 201, {"data": doc}

        status, doc = await run_idempotent(conn, org_id=principal.org_id, key=idempotency_key,
                                           request_body=body.model_dump(mode="json"), create=create)
    return JSONResponse(_with_secret(doc, secret, "data", "api_key"), status_code=status)


@router.post("/admin/signing-keys/rotate", status_code=201)
async def rotate_signing_key(principal: CurrentPrincipal, deps: Deps, request: Request) -> JSONResponse:
    """Add a new signing key for temporary tokens; older keys stay published until their tokens expire."""
    service.require_platform_admin(principal)
    key, keys = await _keyring(request).rotate(deps.db)
    return JSONResponse({"data": {"kid": key.kid, "published_kids": [k.kid for k in keys.published]}},
                        status_code=201)


# --- plans -------------------------------------------------------------------------------------


@router.get("/plans")
async def list_plans(principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """The plans and their request limits per hour (null = unlimited)."""
    items = plans_view(_settings(deps).plan_limits)
    return page_body(items, total=len(items), params=PageParams(page=1, limit=len(items)))


# --- api keys ----------------------------------------------------------------------------------


@router.post("/api-keys", status_code=201)
async def create_api_key(
    body: ApiKeyIn, principal: CurrentPrincipal, deps: Deps, request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create an API key in the caller's org (admins only). The secret is shown once."""
    principal.require_role("admin")
    secret: str | None = None
    async with deps.db.transaction(org_id=principal.org_id) as conn:

        async def create() -> tuple[int, Any]:
            nonlocal secret
            view, secret = await service.create_api_key(conn, principal=principal, body=body,
                                                        traceparent=traceparent(request))
            return 201, {"data": view}

        status, doc = await run_idempotent(conn, org_id=principal.org_id, key=idempotency_key,
                                           request_body=body.model_dump(mode="json"), create=create)
    return JSONResponse(_with_secret(doc, secret, "data"), status_code=status)


@router.get("/api-keys")
async def list_api_keys(principal: CurrentPrincipal, deps: Deps, page: Pagination) -> dict[str, Any]:
    """The org's API keys, newest first, without secrets (admins and managers)."""
    principal.require_role("admin", "manager")
    items, total = await service.list_api_keys(deps.db, principal=principal, page=page)
    return page_body(items, total=total, params=page)


@router.delete("/api-keys/{key_id}", status_code=204)
async def revoke_api_key(key_id: str, principal: CurrentPrincipal, deps: Deps, request: Request) -> Response:
    """Revoke an API key of the caller's org (admins only; revoking twice is fine)."""
    principal.require_role("admin")
    await service.revoke_api_key(deps.db, principal=principal, key_id=key_id,
                                 traceparent=traceparent(request))
    return Response(status_code=204)


# --- token exchange ----------------------------------------------------------------------------


def _presented_key(request: Request) -> str | None:
    """The API key itself, when the gateway passed the caller's credential through."""
    candidates = [request.headers.get("x-permanent-token", "")]
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        candidates.append(value)
    for candidate in (c.strip() for c in candidates):
        if candidate.startswith(SECRET_PREFIX):
            return candidate
    return None


@router.post("/auth/token")
async def exchange_token(principal: CurrentPrincipal, deps: Deps, request: Request) -> dict[str, Any]:
    """Exchange the API key the gateway authenticated for a temporary token (24 h)."""
    return await service.exchange_token(deps.db, _keyring(request), principal=principal,
                                        settings=_settings(deps), presented_secret=_presented_key(request))


# --- internal (gateway) ------------------------------------------------------------------------


@internal_router.get("/api-keys/by-hash/{secret_sha256}")
async def identity_by_hash(
    secret_sha256: Sha256Hex, principal: CurrentPrincipal, deps: Deps
) -> dict[str, Any]:
    """Who an API key is, by its secret's hash; for the gateway only (scope internal:gateway)."""
    if SCOPE_INTERNAL_GATEWAY not in principal.scopes:
        raise Problem(403, f"this lookup needs the '{SCOPE_INTERNAL_GATEWAY}' scope", slug="forbidden")
    identity = await service.identity_by_hash(deps.db, digest=secret_sha256.lower(), settings=_settings(deps))
    return {"data": identity}


@internal_router.get("/orgs/{org_id}/api-keys/{key_id}")
async def identity_by_key_id(org_id: str, key_id: str, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """Who an API key is and whether it was revoked, by id; for the gateway only (it checks the key behind
    every temporary token this way, so a revocation holds across gateway restarts and Kafka outages)."""
    if SCOPE_INTERNAL_GATEWAY not in principal.scopes:
        raise Problem(403, f"this lookup needs the '{SCOPE_INTERNAL_GATEWAY}' scope", slug="forbidden")
    identity = await service.identity_by_key_id(deps.db, org_id=org_id, key_id=key_id, settings=_settings(deps))
    return {"data": identity}
