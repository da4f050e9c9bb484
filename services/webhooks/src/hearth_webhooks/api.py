"""Webhooks routes: parse, delegate to the use cases, shape the response."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Response
from fastapi.responses import JSONResponse
from hearth_kit.api import api_router, problems
from hearth_kit.auth import CurrentPrincipal, Principal
from hearth_kit.idempotency import run_idempotent
from hearth_kit.pagination import Pagination, page_body
from hearth_kit.problems import Problem
from hearth_kit.routes import IdempotencyKey

from hearth_webhooks import domain, service
from hearth_webhooks.runtime import WebhooksDeps, WebhooksRuntime
from hearth_webhooks.schemas import (
    DeliveryDoc,
    DeliveryList,
    DeliveryStatus,
    Endpoint,
    EndpointDoc,
    EndpointIn,
    EndpointList,
    EndpointPatch,
    EndpointSecretDoc,
    EventTypeList,
    ReplayDoc,
    ReplayIn,
    to_utc,
)
from hearth_webhooks.sender import destination_problem

router = api_router(prefix="/v1/webhooks", tags=["webhooks"])


# 401/404/422/429 are documented by the kit's router; these are the problems our own checks add.
_FORBIDDEN = problems(403)


async def _check_url(deps: WebhooksRuntime, url: str) -> None:
    """The URL's shape, then where it leads: private and other special addresses are refused when saved."""
    settings = deps.settings
    problem = domain.url_problem(url, allow_http=settings.http_allowed) or await destination_problem(
        url, allowlist=domain.parse_networks(settings.ssrf_allowlist))
    if problem:
        raise Problem(422, problem, slug="invalid-url", errors=[{"field": "url", "message": problem}])


def _endpoint_json(doc: dict[str, Any]) -> dict[str, Any]:
    return Endpoint.model_validate(doc).model_dump(mode="json")


@router.post("/endpoints", status_code=201, response_model=EndpointSecretDoc, operation_id="createWebhookEndpoint",
             responses=_FORBIDDEN)
async def create_endpoint(body: EndpointIn, principal: CurrentPrincipal, deps: WebhooksDeps,
                          idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Create an endpoint; the answer carries its signing secret, shown this once."""
    principal.require_write()
    await _check_url(deps, body.url)
    box = deps.state
    async with deps.db.transaction(org_id=principal.org_id) as conn:

        async def create() -> tuple[int, Any]:
            doc = await service.create_endpoint(conn, principal=principal, body=body, box=box)
            return 201, {"data": _endpoint_json(doc)}

        status, doc = await run_idempotent(conn, org_id=principal.org_id, key=idempotency_key,
                                           request_body=body.model_dump(mode="json"), create=create)
    # The stored replay answer never holds the secret: it is read (and unsealed) afresh each time.
    secret = await service.current_secret(deps.db, principal=principal, endpoint_id=doc["data"]["id"], box=box)
    return JSONResponse({"data": {**doc["data"], "secret": secret}}, status_code=status,
                        headers={"Location": f"/v1/webhooks/endpoints/{doc['data']['id']}"})


@router.get("/endpoints", response_model=EndpointList, operation_id="listWebhookEndpoints")
async def list_endpoints(principal: CurrentPrincipal, deps: WebhooksDeps, page: Pagination) -> dict[str, Any]:
    """The org's endpoints, newest first."""
    items, total = await service.list_endpoints(deps.db, principal=principal, page=page)
    return page_body(items, total=total, params=page)


@router.get("/endpoints/{endpoint_id}", response_model=EndpointDoc, operation_id="getWebhookEndpoint",
            )
async def get_endpoint(endpoint_id: str, principal: CurrentPrincipal, deps: WebhooksDeps) -> dict[str, Any]:
    """One endpoint (without its secret)."""
    return {"data": await service.get_endpoint(deps.db, principal=principal, endpoint_id=endpoint_id)}


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointDoc, operation_id="updateWebhookEndpoint",
              responses=_FORBIDDEN)
async def patch_endpoint(endpoint_id: str, body: EndpointPatch, principal: CurrentPrincipal,
                         deps: WebhooksDeps) -> dict[str, Any]:
    """Change an endpoint; `{"status": "enabled"}` turns a disabled one back on."""
    principal.require_write()
    if body.url is not None:
        await _check_url(deps, body.url)
    return {"data": await service.patch_endpoint(deps.db, principal=principal, endpoint_id=endpoint_id, body=body)}


@router.delete("/endpoints/{endpoint_id}", status_code=204, operation_id="deleteWebhookEndpoint",
               responses=_FORBIDDEN)
async def delete_endpoint(endpoint_id: str, principal: CurrentPrincipal, deps: WebhooksDeps) -> Response:
    """Delete an endpoint with its delivery log."""
    await service.delete_endpoint(deps.db, principal=principal, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.post("/endpoints/{endpoint_id}/rotate-secret", response_model=EndpointSecretDoc,
             operation_id="rotateWebhookEndpointSecret", responses=_FORBIDDEN)
async def rotate_secret(endpoint_id: str, principal: CurrentPrincipal, deps: WebhooksDeps) -> dict[str, Any]:
    """A new secret, shown once; the old one keeps signing beside it for 24 hours (two signatures sent)."""
    doc = await service.rotate_secret(deps.db, principal=principal, endpoint_id=endpoint_id, box=deps.state,
                                      overlap_seconds=deps.settings.rotation_overlap_seconds)
    return {"data": doc}


@router.post("/endpoints/{endpoint_id}/test", status_code=202, response_model=DeliveryDoc,
             operation_id="testWebhookEndpoint", responses=_FORBIDDEN)
async def send_test(endpoint_id: str, principal: CurrentPrincipal, deps: WebhooksDeps) -> dict[str, Any]:
    """Queue a ping event (`hearth.webhook_endpoint.ping.v1`) to this endpoint."""
    return {"data": await service.send_test(deps.db, principal=principal, endpoint_id=endpoint_id)}


@router.get("/endpoints/{endpoint_id}/deliveries", response_model=DeliveryList,
            operation_id="listWebhookDeliveries")
async def list_deliveries(
    endpoint_id: str, principal: CurrentPrincipal, deps: WebhooksDeps, page: Pagination,
    status: Annotated[DeliveryStatus | None, Query(description="pending, succeeded or failed")] = None,
    event_type: Annotated[str | None, Query(max_length=200, pattern=r"^[a-z0-9_.]+$",
                                            description="Only this event type")] = None,
    since: Annotated[datetime | None, Query(description="Only deliveries queued at or after (RFC 3339)")] = None,
) -> dict[str, Any]:
    """An endpoint's deliveries, newest first, each with every attempt (status, latency, 1 KB excerpt)."""
    if since is not None:
        try:
            since = to_utc(since)
        except ValueError as exc:
            raise Problem(422, "since is out of range", slug="invalid-since",
                          errors=[{"field": "since", "message": str(exc)}]) from exc
    items, total = await service.list_deliveries(deps.db, principal=principal, endpoint_id=endpoint_id, page=page,
                                                 status=status, event_type=event_type, since=since)
    return page_body(items, total=total, params=page)


@router.post("/deliveries/{delivery_id}/retry", status_code=202, response_model=DeliveryDoc,
             operation_id="retryWebhookDelivery",
             responses=problems(403, 409))
async def retry_delivery(delivery_id: str, principal: CurrentPrincipal, deps: WebhooksDeps) -> dict[str, Any]:
    """Attempt a finished delivery again now, with the same webhook-id."""
    return {"data": await service.retry_delivery(deps.db, principal=principal, delivery_id=delivery_id)}


@router.post("/endpoints/{endpoint_id}/replay", status_code=202, response_model=ReplayDoc,
             operation_id="replayWebhookEndpoint", responses=_FORBIDDEN)
async def replay(endpoint_id: str, body: ReplayIn, principal: CurrentPrincipal, deps: WebhooksDeps) -> dict[str, Any]:
    """Deliver again everything from a time (`since`) or a sequence number (`from_sequence`) on: no cap,
    paced by the endpoint's rate limit, each with its original webhook-id and sequence."""
    return {"data": await service.replay(deps.db, principal=principal, endpoint_id=endpoint_id, body=body)}


@router.get("/event-types", response_model=EventTypeList, operation_id="listWebhookEventTypes")
async def event_types(principal: CurrentPrincipal) -> dict[str, Any]:
    """Every event type an endpoint can subscribe to (patterns such as `hearth.lease.*` also work)."""
    _caller: Principal = principal
    return {"data": [{"type": t, "description": d} for t, d in domain.subscribable_types().items()]}
