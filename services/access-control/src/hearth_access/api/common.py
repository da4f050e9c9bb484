"""Shared route helpers: the vendor hub, documented problems (the kit's), 202 with Idempotency-Key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse
from hearth_kit.api import problems
from hearth_kit.auth import Principal
from hearth_kit.idempotency import run_idempotent
from hearth_kit.runtime import Runtime

from hearth_access.service.vendors import VendorHub

__all__ = ["Hub", "accepted_once", "id_path", "problems"]


async def _hub(request: Request) -> VendorHub:
    return request.app.state.runtime.extras["hub"]  # type: ignore[no-any-return]


Hub = Annotated[VendorHub, Depends(_hub)]

async def accepted_once(runtime: Runtime, principal: Principal, *, key: str | None, request_body: Any,
                        run: Callable[[asyncpg.Connection], Awaitable[Any]], status: int = 202,
                        committed: Callable[[dict[str, Any]], None] | None = None) -> JSONResponse:
    """Run a use case once per Idempotency-Key (same key + same body → the same answer, nothing new)."""
    principal.require_write()
    async with runtime.db.transaction(org_id=principal.org_id) as conn:

        async def create() -> tuple[int, Any]:
            return status, {"data": await run(conn)}

        code, doc = await run_idempotent(conn, org_id=principal.org_id, key=key, request_body=request_body,
                                         create=create)
    if committed is not None and code == status:
        committed(doc["data"])
    return JSONResponse(doc, status_code=code)


def id_path() -> Any:
    """A path parameter holding a Hearth id (one `Path` per parameter: FastAPI must not share them)."""
    return Path(max_length=64, pattern=r"^[a-z]{2,6}_[0-9a-z]{1,40}$")
