"""The gateway's own routes: its public JWKS, the merged OpenAPI and Swagger UI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from hearth_kit.auth import jwks

router = APIRouter(include_in_schema=False)


@router.get("/internal/jwks.json")
async def internal_jwks(request: Request) -> dict[str, Any]:
    """The public keys services verify the forwarded internal JWT with (`HEARTH_INTERNAL_JWKS`)."""
    doc: dict[str, Any] = jwks(request.app.state.gateway.signing_key)
    return doc


@router.get("/openapi.json")
async def openapi(request: Request) -> dict[str, Any]:
    """Every service's OpenAPI merged into one document."""
    doc: dict[str, Any] = await request.app.state.gateway.docs.document()
    return doc


@router.get("/docs")
async def docs() -> HTMLResponse:
    """Swagger UI over the merged document."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Hearth API")
