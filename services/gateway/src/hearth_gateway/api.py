"""The gateway's own routes: its public JWKS, the merged OpenAPI and Swagger UI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from hearth_gateway.domain import merge_openapi
from hearth_gateway.service import Gateway

router = APIRouter(include_in_schema=False)


def _gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


@router.get("/internal/jwks.json")
async def internal_jwks(request: Request) -> dict[str, Any]:
    """The public keys services verify the forwarded internal JWT with (`HEARTH_INTERNAL_JWKS`)."""
    return _gateway(request).public_jwks()


@router.get("/openapi.json")
async def openapi(request: Request) -> dict[str, Any]:
    """Every service's OpenAPI merged into one document."""
    gw = _gateway(request)

    async def build() -> dict[str, Any]:
        docs, missing = await gw.openapi_documents()
        merged = merge_openapi(docs)
        if missing:
            merged["info"]["x-unavailable-services"] = missing
        return merged

    return await gw.cached(build)


@router.get("/docs")
async def docs() -> HTMLResponse:
    """Swagger UI over the merged document."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Hearth API")
