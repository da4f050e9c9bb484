"""`Call`: one API request's way into the service — who is calling, what they may do, and the one
place transactions open.

Routes take a `Call` through an access dependency; the dependency is the ONE place a request is
authorized (use cases never check roles again):

    Reader      any authenticated caller of the org
    Writer      a caller that may write (not a read-only role)
    with_roles("admin")            one of these roles
    with_scope("internal:gateway") a caller holding this scope

and the `Call` opens the transaction (the one transaction boundary) and shapes the response:

    return await call.create_once(body, lambda tx: buildings.create(tx, body), resource=BUILDING)
    return await call.get(BUILDING, building_id)
    return await call.update(BUILDING, building_id, body)          # PUT or PATCH (by method)
    return await call.delete(BUILDING, building_id, buildings.remove)
    doc = await call.read(lambda tx: ...)                           # anything else
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hearth_kit import resources
from hearth_kit.api import declares_problems
from hearth_kit.auth import CurrentPrincipal, Principal
from hearth_kit.errors import Forbidden
from hearth_kit.idempotency import run_idempotent
from hearth_kit.resources import Resource, etag_of
from hearth_kit.runtime import Runtime, current_runtime
from hearth_kit.tx import Tx

T = TypeVar("T")
IDEMPOTENCY_HEADER = "idempotency-key"


@dataclass(frozen=True)
class WithSecret:
    """A created document plus a secret shown once: put into the first answer at `at` (a path of keys,
    () = the document itself) under `secret`, never stored, so an idempotent replay shows `secret: null`."""

    doc: dict[str, Any]
    secret: str
    at: tuple[str, ...] = ()


def _put_secret(doc: dict[str, Any], secret: str | None, at: tuple[str, ...]) -> dict[str, Any]:
    target = doc
    for part in at:
        target = target[part]
    target["secret"] = secret
    return doc


def single(doc: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """`{"data": doc}` with the resource's ETag."""
    return JSONResponse({"data": doc}, status_code=status, headers={"ETag": etag_of(doc), **(headers or {})})


@dataclass
class Call:
    """An authorized request: its caller, the service runtime, and the request's headers that matter."""

    principal: Principal
    runtime: Runtime[Any, Any]
    request: Request

    @property
    def traceparent(self) -> str | None:
        return self.request.headers.get("traceparent")

    @property
    def if_match(self) -> str | None:
        return self.request.headers.get("if-match")

    @property
    def idempotency_key(self) -> str | None:
        return self.request.headers.get(IDEMPOTENCY_HEADER)

    @asynccontextmanager
    async def transaction(self, *, cross_org: bool = False) -> AsyncIterator[Tx]:
        """The request's one transaction, scoped to the caller's org (`cross_org`: operator actions only)."""
        unit = self.runtime.db.system_transaction() if cross_org else \
            self.runtime.db.transaction(org_id=self.principal.org_id)
        async with unit as conn:
            yield Tx(conn=conn, org_id=self.principal.org_id, source=self.runtime.source,
                     principal=self.principal, traceparent=self.traceparent)

    async def read(self, use: Callable[[Tx], Awaitable[T]]) -> T:
        """Run a use case in one transaction and return what it returns."""
        async with self.transaction() as tx:
            return await use(tx)

    write = read  # the same boundary; the name says what the route does

    async def create_once(
        self, body: BaseModel | dict[str, Any] | list[Any],
        create: Callable[[Tx], Awaitable[dict[str, Any] | list[Any] | WithSecret]],
        *, resource: Resource | None = None, cross_org: bool = False,
    ) -> JSONResponse:
        """201 with `{"data": doc}`, Location and ETag; a repeated Idempotency-Key replays the first answer."""
        request_body = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
        secret: WithSecret | None = None
        async with self.transaction(cross_org=cross_org) as tx:

            async def run() -> tuple[int, Any]:
                nonlocal secret
                created = await create(tx)
                if isinstance(created, WithSecret):  # stored (and replayed) without the secret
                    secret = created
                    created = _put_secret(created.doc, None, created.at)
                return 201, {"data": created}

            status, doc = await run_idempotent(tx.conn, org_id=self.principal.org_id, key=self.idempotency_key,
                                               request_body=request_body, create=run)
        data = doc["data"]
        if secret is not None:
            data = _put_secret(data, secret.secret, secret.at)
        headers: dict[str, str] = {}
        if isinstance(data, dict) and "id" in data:
            headers["ETag"] = etag_of(data)
            location = resource.location(data) if resource is not None else None
            if location:
                headers["Location"] = location
        return JSONResponse({"data": data}, status_code=status, headers=headers)

    async def get(self, resource: Resource, ident: str) -> JSONResponse:
        """One resource with its ETag, or 404."""
        async with self.transaction() as tx:
            row = await resources.load(tx, resource, ident)
        return single(resource.view(row))

    async def update(self, resource: Resource, ident: str, body: BaseModel, *,
                     partial: bool | None = None) -> JSONResponse:
        """PUT (every field) or PATCH (the fields sent; the default for a PATCH request), honouring If-Match."""
        is_patch = self.request.method == "PATCH" if partial is None else partial
        async with self.transaction() as tx:
            doc = await resources.update(tx, resource, ident, body, partial=is_patch, if_match=self.if_match)
        return single(doc)

    async def delete(self, resource: Resource, ident: str,
                     remove: Callable[[Tx, resources.Row], Awaitable[None]]) -> Response:
        """204 after `remove` ran on the loaded row (404 when missing, 412 on an If-Match mismatch)."""
        async with self.transaction() as tx:
            await resources.delete(tx, resource, ident, remove, if_match=self.if_match)
        return Response(status_code=204)


async def _call(request: Request, principal: CurrentPrincipal,
                runtime: Annotated[Runtime[Any, Any], Depends(current_runtime)]) -> Call:
    return Call(principal=principal, runtime=runtime, request=request)


@declares_problems(403)
async def _writer(call: Annotated[Call, Depends(_call)]) -> Call:
    if not call.principal.can_write:
        raise Forbidden(f"role '{call.principal.role}' is read-only")
    return call


def with_roles(*roles: str) -> Any:
    """`call: Annotated[Call, with_roles("admin")]`: 403 unless the caller has one of `roles`."""

    @declares_problems(403)
    async def check(call: Annotated[Call, Depends(_call)]) -> Call:
        if call.principal.role not in roles:
            raise Forbidden(f"this action needs one of the roles: {', '.join(roles)}")
        return call

    return Depends(check)


def with_scope(scope: str, *, why: str = "") -> Any:
    """`call: Annotated[Call, with_scope("platform:admin")]`: 403 unless the caller holds `scope`."""

    @declares_problems(403)
    async def check(call: Annotated[Call, Depends(_call)]) -> Call:
        if scope not in call.principal.scopes:
            raise Forbidden(f"this action needs the '{scope}' scope{f' ({why})' if why else ''}")
        return call

    return Depends(check)


Reader = Annotated[Call, Depends(_call)]
Writer = Annotated[Call, Depends(_writer)]
