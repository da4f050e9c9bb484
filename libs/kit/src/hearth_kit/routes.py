"""Deprecated route helpers, kept so older services still run: new code uses `hearth_kit.calls` (a `Call`
opens the transaction, checks access, replays Idempotency-Key and sets Location/ETag)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Header, Request
from fastapi.responses import JSONResponse

from hearth_kit.auth import Principal
from hearth_kit.idempotency import run_idempotent
from hearth_kit.runtime import Runtime

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def traceparent(request: Request) -> str | None:
    """The caller's W3C traceparent, carried into the events a request causes."""
    return request.headers.get("traceparent")


async def create_once(
    deps: Runtime, principal: Principal, *, key: str | None, request_body: Any,
    create: Callable[[asyncpg.Connection], Awaitable[Any]],
) -> JSONResponse:
    """Run a creating use case in one transaction, replayed for a repeated Idempotency-Key."""
    principal.require_write()
    async with deps.db.transaction(org_id=principal.org_id) as conn:

        async def run() -> tuple[int, Any]:
            return 201, {"data": await create(conn)}

        status, doc = await run_idempotent(conn, org_id=principal.org_id, key=key, request_body=request_body,
                                           create=run)
    return JSONResponse(doc, status_code=status)
