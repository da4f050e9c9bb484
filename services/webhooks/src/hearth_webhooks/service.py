"""Use cases of the webhooks service. Each takes the request's `Tx` (one transaction, already scoped to
the caller's org and authorized by the route); errors are the kit's domain errors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from hearth_contracts.envelope import EventData, to_cloudevent_bytes
from hearth_kit.calls import WithSecret
from hearth_kit.errors import Conflict, InvalidInput, NotFound
from hearth_kit.ids import looks_like, new_id
from hearth_kit.pagination import PageParams
from hearth_kit.resources import Resource, Row
from hearth_kit.sealing import Sealer
from hearth_kit.tx import Tx
from pydantic import BaseModel

from hearth_webhooks import domain, repository
from hearth_webhooks.schemas import Delivery, Endpoint, EndpointIn, ReplayIn

PING_SOURCE = "hearth/webhooks"


class EndpointPinged(EventData):
    """A test event asked for by the endpoint's owner (never on Kafka; delivered to that endpoint only)."""

    event_type = "hearth.webhook_endpoint.ping.v1"
    topic = "webhooks.events"

    endpoint_id: str
    org_id: str
    message: str = "ping"


def endpoint_view(row: asyncpg.Record) -> dict[str, Any]:
    """The API shape of an endpoint (JSON-ready; never its secret)."""
    return Endpoint.model_validate(dict(row)).model_dump(mode="json")


def _check_patterns(patterns: list[str]) -> list[str]:
    problems = domain.pattern_problems(patterns)
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid-event-types",
                           errors=[{"field": "event_types", "message": p} for p in problems])
    return sorted(set(patterns))


# --- the endpoint resource ------------------------------------------------------------------------------

async def _load_endpoint(tx: Tx, endpoint_id: str, lock: bool) -> Row | None:
    if not looks_like("whep", endpoint_id):  # an odd id cannot exist: no query
        return None
    return await repository.get_endpoint(tx.conn, endpoint_id, lock=lock)


async def _apply_patch(_tx: Tx, before: Row, body: BaseModel, _partial: bool) -> dict[str, Any]:
    changes = body.model_dump(include=body.model_fields_set)
    if "event_types" in changes:
        changes["event_types"] = _check_patterns(changes["event_types"])
    return changes


async def _save_endpoint(tx: Tx, endpoint_id: str, changes: dict[str, Any]) -> Row:
    row = await repository.update_endpoint(tx.conn, endpoint_id, changes)
    assert row is not None  # loaded under lock in this transaction
    if changes.get("status") == "enabled":  # its queued deliveries are due again: wake the workers
        await repository.notify_dispatcher(tx.conn)
    return row


ENDPOINT = Resource(
    kind="endpoint", path="/v1/webhooks/endpoints/{id}", view=endpoint_view, load=_load_endpoint,
    fields=("url", "description", "event_types", "ordered", "rate_limit", "max_concurrency", "status"),
    apply=_apply_patch, save=_save_endpoint)


async def _endpoint(tx: Tx, endpoint_id: str, *, lock: bool = False) -> Row:
    row = await _load_endpoint(tx, endpoint_id, lock)
    if row is None:
        raise NotFound.of("endpoint", endpoint_id[:60])
    return row


# --- endpoints ------------------------------------------------------------------------------------------

async def create_endpoint(tx: Tx, body: EndpointIn, *, box: Sealer) -> WithSecret:
    """Save an endpoint with a fresh secret: shown in this answer only, stored sealed."""
    event_types = _check_patterns(body.event_types)
    secret = domain.new_secret()
    row = await repository.insert_endpoint(
        tx.conn, endpoint_id=new_id("whep"), org_id=tx.org_id, url=body.url, description=body.description,
        event_types=event_types, ordered=body.ordered, rate_limit=body.rate_limit,
        max_concurrency=body.max_concurrency, sealed_secret=box.seal(secret))
    return WithSecret(endpoint_view(row), secret)


async def list_endpoints(tx: Tx, *, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    rows, total = await repository.list_endpoints(tx.conn, offset=page.offset, limit=page.limit)
    return [endpoint_view(r) for r in rows], total


async def remove_endpoint(tx: Tx, row: Row) -> None:
    """Delete an endpoint with its delivery log (the resource's delete rule)."""
    await repository.delete_endpoint(tx.conn, row["id"])


async def rotate_secret(tx: Tx, endpoint_id: str, *, box: Sealer, overlap_seconds: float) -> dict[str, Any]:
    """A new secret signs from now on; the old one signs beside it for the overlap (both signatures sent)."""
    await _endpoint(tx, endpoint_id, lock=True)
    secret = domain.new_secret()
    row = await repository.rotate_secret(tx.conn, endpoint_id, sealed_secret=box.seal(secret),
                                         overlap_seconds=overlap_seconds)
    assert row is not None
    return {**endpoint_view(row), "secret": secret}


async def send_test(tx: Tx, endpoint_id: str) -> dict[str, Any]:
    """Queue a ping event to this endpoint (whatever it subscribes to), like any other delivery."""
    await _endpoint(tx, endpoint_id)
    event_id = new_id("evt")
    payload = to_cloudevent_bytes(
        event_id=event_id, source=PING_SOURCE, subject=endpoint_id, org_id=tx.org_id, sequence=1,
        data=EndpointPinged(endpoint_id=endpoint_id, org_id=tx.org_id))
    await repository.insert_event(tx.conn, event_id=event_id, org_id=tx.org_id,
                                  event_type=EndpointPinged.event_type, subject=endpoint_id, payload=payload)
    delivery_id = new_id("msg")
    sequence = await repository.take_sequence(tx.conn, endpoint_id)
    await repository.insert_deliveries(tx.conn, org_id=tx.org_id, event_id=event_id,
                                       event_type=EndpointPinged.event_type, subject=endpoint_id,
                                       rows=[(delivery_id, endpoint_id, sequence)])
    return await _delivery_doc(tx.conn, delivery_id)


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
    return [Delivery.model_validate({**{k: v for k, v in r.items() if k != "total"},
                                     "attempt_log": by_delivery.get(r["id"], [])}).model_dump(mode="json")
            for r in rows]


async def list_deliveries(tx: Tx, endpoint_id: str, *, page: PageParams, status: str | None,
                          event_type: str | None, since: datetime | None) -> tuple[list[dict[str, Any]], int]:
    """An endpoint's deliveries, newest sequence first, each with every attempt."""
    await _endpoint(tx, endpoint_id)
    rows, total = await repository.list_deliveries(tx.conn, endpoint_id=endpoint_id, status=status,
                                                   event_type=event_type, since=since,
                                                   offset=page.offset, limit=page.limit)
    return await _with_attempts(tx.conn, rows), total


async def retry_delivery(tx: Tx, delivery_id: str) -> dict[str, Any]:
    """Attempt a finished delivery again now (same webhook-id); 409 while it is still queued."""
    row = await repository.get_delivery(tx.conn, delivery_id, lock=True) if looks_like("msg", delivery_id) else None
    if row is None:
        raise NotFound.of("delivery", delivery_id[:60])
    if row["status"] == "pending":
        raise Conflict("the delivery is already queued", code="delivery-pending")
    await repository.requeue_delivery(tx.conn, delivery_id)
    await repository.notify_dispatcher(tx.conn)
    return await _delivery_doc(tx.conn, delivery_id)


async def replay(tx: Tx, endpoint_id: str, body: ReplayIn) -> dict[str, Any]:
    """Queue again every finished delivery of the endpoint from a time or a sequence on (same webhook-ids,
    same sequence numbers); no cap, paced by the endpoint's limits."""
    await _endpoint(tx, endpoint_id)
    queued = await repository.replay(tx.conn, endpoint_id=endpoint_id, since=body.since,
                                     from_sequence=body.from_sequence)
    await repository.notify_dispatcher(tx.conn)
    return {"endpoint_id": endpoint_id, "queued": queued}
