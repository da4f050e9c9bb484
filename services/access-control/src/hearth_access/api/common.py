"""Shared route helpers: documented problems (the kit's), 202 with Idempotency-Key, id parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Path
from fastapi.responses import JSONResponse
from hearth_kit.api import problems
from hearth_kit.calls import Call
from hearth_kit.idempotency import run_idempotent
from hearth_kit.problems import problem_response
from hearth_kit.tx import Tx

from hearth_access.runtime import Hub
from hearth_access.service.commands import TooManyCommands

__all__ = ["IDEMPOTENT_202", "Hub", "accepted_once", "id_path", "problems"]

# The kit documents Idempotency-Key on 201 creates; the 202 commands take it too.
IDEMPOTENT_202: dict[str, Any] = {"parameters": [{
    "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200},
    "description": "Retry-safe command: the same key and body within 24 h get the first answer (and attempt) again"}]}


async def accepted_once(call: Call, *, request_body: Any, run: Callable[[Tx], Awaitable[dict[str, Any]]],
                        committed: Callable[[dict[str, Any]], None]) -> JSONResponse:
    """202 with `{"data": doc}`, once per Idempotency-Key (same key + same body → the same answer, nothing new).

    `committed` sees the document after its transaction committed (for a replay too: what it starts must
    be safe to start twice, as the command fast path is: the attempt is claimed once). The kit's
    `create_once` answers 201; a command is accepted, not created, so this is its 202 twin (a candidate
    for the kit). A lock past its guardrail answers 429 with Retry-After."""
    try:
        async with call.transaction() as tx:

            async def create() -> tuple[int, Any]:
                return 202, {"data": await run(tx)}

            code, doc = await run_idempotent(tx.conn, org_id=tx.org_id, key=call.idempotency_key,
                                             request_body=request_body, create=create)
    except TooManyCommands as exc:
        return problem_response(call.request, status=429, detail=exc.detail, slug=exc.code,
                                headers={"Retry-After": str(exc.retry_after)}, retry_after=exc.retry_after)
    if code == 202:
        committed(doc["data"])
    return JSONResponse(doc, status_code=code)


def id_path() -> Any:
    """A path parameter holding a Hearth id (one `Path` per parameter: FastAPI must not share them)."""
    return Path(max_length=64, pattern=r"^[a-z]{2,6}_[0-9a-z]{1,40}$")
