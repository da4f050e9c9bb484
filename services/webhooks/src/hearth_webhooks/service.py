"""Use cases of the webhooks service: one transaction each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from hearth_contracts.envelope import EventData, to_cloudevent_bytes
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import looks_like, new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found
from hearth_kit.sealing import Sealer

from hearth_webhooks import domain, repository
from hearth_webhooks.schemas import EndpointIn, EndpointPatch, ReplayIn

PING_SOURCE = "hearth/webhooks"


class EndpointPinged(EventData):
    """A test event asked for by the endpoint's owner (never on Kafka; delivered to that endpoint only)."""

    event_type = "hearth.webhook_endpoint.ping.v1"
    topic = "webhooks.events"

    endpoint_id: str
    org_id: str
    message: str = "ping"


def endpoint_doc(row: asyncpg.Record) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "total"}


def _check_patterns(patterns: list[str]) -> None:
    problems = domain.pattern_problems(patterns)
    if problems:
        raise Problem(422, "; ".join(problems), slug="invalid-event-types",
                      errors=[{"field": "event_types", "message": p} for p in problems])


def _endpoint_id(endpoint_id: str) -> str:
    if not looks_like("whep", endpoint_id):
        raise not_found("endpoint", endpoint_id[:60])
    return endpoint_id


# --- endpoints ------------------------------------------------------------------------------------------

async def create_endpoint(conn: asyncpg.Connection, *, principal: Principal, body: EndpointIn,
                          box: Sealer) -> dict[str, Any]:
    """Save an endpoint with a fresh secret (the caller shows the secret once; it is stored sealed)."""
    _check_patterns(body.event_types)
    row = await repository.insert_endpoint(
        conn, endpoint_id=new_id("whep"), org_id=principal.org_id, url=body.url, description=body.description,
        event_types=sorted(set(body.event_types)), ordered=body.ordered, rate_limit=body.rate_limit,
        max_concurrency=body.max_concurrency, sealed_secret=box.seal(domain.new_secret()))
    return endpoint_doc(row)


async def current_secret(db: Database, *, principal: Principal, endpoint_id: str, box: Sealer) -> str:
    """The endpoint's signing secret in clear (right after creating or rotating it only)."""
    async with db.transaction(org_id=principal.org_id) as conn:
        sealed = await repository.get_secret(conn, endpoint_id)
    if sealed is None:
        raise not_found("endpoint", endpoint_id)
    return box.open(sealed)


async def list_endpoints(db: Database, *, principal: Principal, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repository.list_endpoints(conn, offset=page.offset, limit=page.limit)
    return [endpoint_doc(r) for r in rows], total


async def get_endpoint(db: Database, *, principal: Principal, endpoint_id: str) -> dict[str, Any]:
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repository.get_endpoint(conn, _endpoint_id(endpoint_id))
    if row is None:
        raise not_found("endpoint", endpoint_id)
    return endpoint_doc(row)


async def patch_endpoint(db: Database, *, principal: Principal, endpoint_id: str,
                         body: EndpointPatch) -> dict[str, Any]:
    """Change an endpoint; `status: enabled` re-enables a disabled one (its failing run forgotten)."""
    principal.require_write()
    changes = body.model_dump(exclude_unset=True)
    if "event_types" in changes:
        _check_patterns(changes["event_types"])
        changes["event_types"] = sorted(set(changes["event_types"]))
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repository.update_endpoint(conn, _endpoint_id(endpoint_id), changes)
        if row is not None and changes.get("status") == "enabled":
            await repository.notify_dispatcher(conn)
    if row is None:
        raise not_found("endpoint", endpoint_id)
    return endpoint_doc(row)


async def delete_endpoint(db: Database, *, principal: Principal, endpoint_id: str) -> None:
    """Delete an endpoint and its delivery log."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        if not await repository.delete_endpoint(conn, _endpoint_id(endpoint_id)):
            raise not_found("endpoint", endpoint_id)


async def rotate_secret(db: Database, *, principal: Principal, endpoint_id: str, box: Sealer,
                        overlap_seconds: float) -> dict[str, Any]:
    """A new secret signs from now on; the old one signs beside it for the overlap (both signatures sent)."""
    principal.require_write()
    secret = domain.new_secret()
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repository.rotate_secret(conn, _endpoint_id(endpoint_id), sealed_secret=box.seal(secret),
                                             overlap_seconds=overlap_seconds)
    if row is None:
        raise not_found("endpoint", endpoint_id)
    return {**endpoint_doc(row), "secret": secret}


async def send_test(db: Database, *, principal: Principal, endpoint_id: str) -> dict[str, Any]:
    """Queue a ping event to this endpoint (whatever it subscribes to), like any other delivery."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        endpoint = await repository.get_endpoint(conn, _endpoint_id(endpoint_id))
        if endpoint is None:
            raise not_found("endpoint", endpoint_id)
        event_id = new_id("evt")
        payload = to_cloudevent_bytes(
            event_id=event_id, source=PING_SOURCE, subject=endpoint_id, org_id=principal.org_id, sequence=1,
            data=EndpointPinged(endpoint_id=endpoint_id, org_id=principal.org_id))
        await repository.insert_event(conn, event_id=event_id, org_id=principal.org_id,
                                      event_type=EndpointPinged.event_type, subject=endpoint_id, payload=payload)
        delivery_id = new_id("msg")
        sequence = await repository.take_sequence(conn, endpoint_id)
        await repository.insert_deliveries(conn, org_id=principal.org_id, event_id=event_id,
                                           event_type=EndpointPinged.event_type, subject=endpoint_id,
                                           rows=[(delivery_id, endpoint_id, sequence)])
        return await _delivery_doc(conn, delivery_id)


# --- delivery log, retry, replay -------------------------------------------------------------------------

async def _delivery_doc(conn: asyncpg.Connection, delivery_id: str) -> dict[str, Any]:
    row = await repository.get_delivery(conn, delivery_id)
    assert row is not None
    return (await _with_attempts(conn, [row]))[0]


async def _with_attempts(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    attempts = await repository.attempts_for(conn, [r["id"] for r in rows])
    by_delivery: dict[str, list[dict[str, Any]]] = {}
    for a in attempts:
        by_delivery.setdefault(a["delivery_id"], []).append({k: v for k, v in a.items() if k != "delivery_id"})
    return [{**{k: v for k, v in r.items() if k != "total"}, "attempt_log": by_delivery.get(r["id"], [])}
            for r in rows]


async def list_deliveries(db: Database, *, principal: Principal, endpoint_id: str, page: PageParams,
                          status: str | None, event_type: str | None,
                          since: datetime | None) -> tuple[list[dict[str, Any]], int]:
    """An endpoint's deliveries, newest sequence first, each with every attempt."""
    async with db.transaction(org_id=principal.org_id) as conn:
        if await repository.get_endpoint(conn, _endpoint_id(endpoint_id)) is None:
            raise not_found("endpoint", endpoint_id)
        rows, total = await repository.list_deliveries(conn, endpoint_id=endpoint_id, status=status,
                                                       event_type=event_type, since=since,
                                                       offset=page.offset, limit=page.limit)
        return await _with_attempts(conn, rows), total


async def retry_delivery(db: Database, *, principal: Principal, delivery_id: str) -> dict[str, Any]:
    """Attempt a finished delivery again now (same webhook-id); 409 while it is still queued."""
    principal.require_write()
    if not looks_like("msg", delivery_id):
        raise not_found("delivery", delivery_id[:60])
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repository.get_delivery(conn, delivery_id, lock=True)
        if row is None:
            raise not_found("delivery", delivery_id)
        if row["status"] == "pending":
            raise Problem(409, "the delivery is already queued", slug="delivery-pending")
        await repository.requeue_delivery(conn, delivery_id)
        await repository.notify_dispatcher(conn)
        return await _delivery_doc(conn, delivery_id)


async def replay(db: Database, *, principal: Principal, endpoint_id: str, body: ReplayIn) -> dict[str, Any]:
    """Queue again every delivery of the endpoint from a time or a sequence on; no cap, paced by its limits."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        if await repository.get_endpoint(conn, _endpoint_id(endpoint_id)) is None:
            raise not_found("endpoint", endpoint_id)
        queued = await repository.replay(conn, endpoint_id=endpoint_id, since=body.since,
                                         from_sequence=body.from_sequence)
        await repository.notify_dispatcher(conn)
    return {"endpoint_id": endpoint_id, "queued": queued}
