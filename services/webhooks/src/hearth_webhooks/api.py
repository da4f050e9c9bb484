"""Webhooks routes: the access dependency authorizes, the `Call` opens the one transaction, the use case
does the work (service.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Response
from fastapi.responses import JSONResponse
from hearth_kit.api import Data, Page, api_router, problems
from hearth_kit.calls import Reader, Writer, single
from hearth_kit.errors import InvalidInput
from hearth_kit.pagination import Pagination, page_response

from hearth_webhooks import domain, service
from hearth_webhooks.runtime import WebhooksDeps
from hearth_webhooks.schemas import (
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointIn,
    EndpointPatch,
    EndpointWithSecret,
    EventTypeList,
    Replay,
    ReplayIn,
    to_utc,
)
from hearth_webhooks.sender import destination_problem
from hearth_webhooks.service import ENDPOINT

router = api_router(prefix="/v1/webhooks", tags=["webhooks"])


async def _check_url(runtime: WebhooksDeps, url: str) -> None:
    """The URL's shape, then where it leads: private and other special addresses are refused when saved."""
    settings = runtime.settings
    problem = domain.url_problem(url, allow_http=settings.http_allowed) or await destination_problem(
        url, allowlist=domain.parse_networks(settings.ssrf_allowlist))
    if problem:
        raise InvalidInput(problem, code="invalid-url", errors=[{"field": "url", "message": problem}])


@router.post("/endpoints", status_code=201, response_model=Data[EndpointWithSecret])
async def create_webhook_endpoint(body: EndpointIn, call: Writer, runtime: WebhooksDeps) -> JSONResponse:
    """Create an endpoint; the answer carries its signing secret, shown this once (an Idempotency-Key
    replay answers `secret: null`)."""
    await _check_url(runtime, body.url)
    return await call.create_once(body, lambda tx: service.create_endpoint(tx, body, box=runtime.state.sealer),
                                  resource=ENDPOINT)


@router.get("/endpoints", response_model=Page[Endpoint])
async def list_webhook_endpoints(call: Reader, page: Pagination) -> JSONResponse:
    """The org's endpoints, newest first."""
    items, total = await call.read(lambda tx: service.list_endpoints(tx, page=page))
    return page_response(items, total=total, params=page)


@router.get("/endpoints/{endpoint_id}", response_model=Data[Endpoint])
async def get_webhook_endpoint(endpoint_id: str, call: Reader) -> JSONResponse:
    """One endpoint (without its secret), with its ETag."""
    return await call.get(ENDPOINT, endpoint_id)


@router.patch("/endpoints/{endpoint_id}", response_model=Data[Endpoint])
async def update_webhook_endpoint(endpoint_id: str, body: EndpointPatch, call: Writer,
                                  runtime: WebhooksDeps) -> JSONResponse:
    """Change an endpoint (If-Match honoured: 412 when it changed meanwhile); `{"status": "enabled"}` turns
    a disabled one back on."""
    if body.url is not None:
        await _check_url(runtime, body.url)
    return await call.update(ENDPOINT, endpoint_id, body)


@router.delete("/endpoints/{endpoint_id}", status_code=204)
async def delete_webhook_endpoint(endpoint_id: str, call: Writer) -> Response:
    """Delete an endpoint with its delivery log (If-Match honoured)."""
    return await call.delete(ENDPOINT, endpoint_id, service.remove_endpoint)


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=Data[EndpointWithSecret])
async def rotate_webhook_endpoint_secret(endpoint_id: str, call: Writer, runtime: WebhooksDeps) -> JSONResponse:
    """A new secret, shown once; the old one keeps signing beside it for 24 hours (two signatures sent)."""
    doc = await call.write(lambda tx: service.rotate_secret(
        tx, endpoint_id, box=runtime.state.sealer, overlap_seconds=runtime.settings.rotation_overlap_seconds))
    return single(doc)


@router.post("/endpoints/{endpoint_id}/test", status_code=202, response_model=Data[Delivery])
async def test_webhook_endpoint(endpoint_id: str, call: Writer) -> JSONResponse:
    """Queue a ping event (`hearth.webhook_endpoint.ping.v1`) to this endpoint."""
    return JSONResponse({"data": await call.write(lambda tx: service.send_test(tx, endpoint_id))}, status_code=202)


@router.get("/endpoints/{endpoint_id}/deliveries", response_model=Page[Delivery])
async def list_webhook_deliveries(
    endpoint_id: str, call: Reader, page: Pagination,
    status: Annotated[DeliveryStatus | None, Query(description="pending, succeeded or failed")] = None,
    event_type: Annotated[str | None, Query(max_length=200, pattern=r"^[a-z0-9_.]+$",
                                            description="Only this event type")] = None,
    since: Annotated[datetime | None, Query(description="Only deliveries queued at or after (RFC 3339)")] = None,
) -> JSONResponse:
    """An endpoint's deliveries, newest first, each with every attempt (status, latency, 1 KB excerpt)."""
    if since is not None:
        try:
            since = to_utc(since)
        except ValueError as exc:
            raise InvalidInput("since is out of range", code="invalid-since",
                               errors=[{"field": "since", "message": str(exc)}]) from exc
    items, total = await call.read(lambda tx: service.list_deliveries(
        tx, endpoint_id, page=page, status=status, event_type=event_type, since=since))
    return page_response(items, total=total, params=page)


@router.post("/deliveries/{delivery_id}/retry", status_code=202, response_model=Data[Delivery],
             responses=problems(409))
async def retry_webhook_delivery(delivery_id: str, call: Writer) -> JSONResponse:
    """Attempt a finished delivery again now, with the same webhook-id."""
    return JSONResponse({"data": await call.write(lambda tx: service.retry_delivery(tx, delivery_id))},
                        status_code=202)


@router.post("/endpoints/{endpoint_id}/replay", status_code=202, response_model=Data[Replay])
async def replay_webhook_endpoint(endpoint_id: str, body: ReplayIn, call: Writer) -> JSONResponse:
    """Deliver again everything already queued for this endpoint from a time (`since`) or a sequence
    number (`from_sequence`) on: no cap, paced by the endpoint's limits, each with its original
    webhook-id and sequence."""
    return JSONResponse({"data": await call.write(lambda tx: service.replay(tx, endpoint_id, body))},
                        status_code=202)


@router.get("/event-types", response_model=EventTypeList)
async def list_webhook_event_types(call: Reader) -> JSONResponse:
    """Every event type an endpoint can subscribe to (patterns such as `hearth.lease.*` also work)."""
    del call  # any authenticated caller of an org may read the list
    return JSONResponse({"data": [{"type": t, "description": d} for t, d in domain.subscribable_types().items()]})
