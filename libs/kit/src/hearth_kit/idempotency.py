"""`Idempotency-Key` on creating POSTs: same key + same body → same response; another body → 422."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from hearth_kit.errors import BadRequest, InvalidInput

MAX_KEY_LENGTH = 200


def body_hash(body: Any) -> str:
    """A stable hash of a request body (canonical JSON)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def run_idempotent(
    conn: asyncpg.Connection,
    *,
    org_id: str,
    key: str | None,
    request_body: Any,
    create: Callable[[], Awaitable[tuple[int, Any]]],
) -> tuple[int, Any]:
    """Run `create` once per (org, key) inside the caller's transaction; replay its stored answer after."""
    if key is None:
        return await create()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} characters", code="bad-idempotency-key")
    digest = body_hash(request_body)
    # Two concurrent requests with one key take turns here instead of both creating.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"idem:{org_id}:{key}")
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, body FROM idempotency_keys WHERE org_id = $1 AND key = $2", org_id, key
    )
    if row is not None:
        if row["request_hash"] != digest:
            raise InvalidInput("Idempotency-Key was already used with a different request body",
                               code="idempotency-key-reused")
        return int(row["status_code"]), row["body"]
    status, body = await create()
    await conn.execute(
        "INSERT INTO idempotency_keys (org_id, key, request_hash, status_code, body) VALUES ($1, $2, $3, $4, $5)",
        org_id, key, digest, status, body,
    )
    return status, body
