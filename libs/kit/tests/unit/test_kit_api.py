"""The kit's API layer without infrastructure: documented routes, domain errors as problems, ETags,
field merging and typed subscriptions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from hearth_contracts.billing import PaymentRecorded
from hearth_contracts.envelope import Envelope
from hearth_contracts.property import BuildingDeleted
from hearth_contracts.topics import BILLING_EVENTS, PROPERTY_EVENTS
from hearth_kit.api import Data, api_router, install_openapi, operation_id, problems
from hearth_kit.calls import Reader, Writer
from hearth_kit.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from hearth_kit.problems import install_problem_handlers
from hearth_kit.resources import check_if_match, etag_of, merge_fields
from hearth_kit.subscriptions import Subscription, on
from hearth_kit.tx import Tx
from pydantic import BaseModel


class Thing(BaseModel):
    id: str
    name: str


class ThingPatch(BaseModel):
    name: str | None = None
    size: int | None = None


def _app() -> FastAPI:
    router = api_router(prefix="/v1", tags=["things"])

    @router.get("/things/{thing_id}", response_model=Data[Thing])
    async def get_thing(thing_id: str, call: Reader) -> JSONResponse:
        raise NotFound.of("thing", thing_id)

    @router.patch("/things/{thing_id}", response_model=Data[Thing], responses=problems(409))
    async def patch_thing(thing_id: str, body: ThingPatch, call: Writer) -> JSONResponse:
        raise Conflict("busy", code="thing-busy", holder="x")

    @router.get("/public", response_model=Data[Thing])
    async def public_thing() -> JSONResponse:
        raise InvalidInput("bad", errors=[{"field": "q", "message": "no"}])

    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    install_openapi(app)
    return app


def test_routes_are_documented_with_ids_problems_security_and_if_match() -> None:
    doc = _app().openapi()
    get = doc["paths"]["/v1/things/{thing_id}"]["get"]
    patch = doc["paths"]["/v1/things/{thing_id}"]["patch"]
    public = doc["paths"]["/v1/public"]["get"]
    assert (get["operationId"], patch["operationId"]) == ("getThing", "patchThing")
    assert set(get["responses"]) == {"200", "401", "404", "422", "429"}
    assert set(patch["responses"]) == {"200", "400", "401", "403", "404", "409", "412", "422", "429"}
    assert set(public["responses"]) == {"200"}  # no auth, no input: nothing else can happen
    for status, response in patch["responses"].items():
        if status != "200":
            assert response["content"] == {"application/problem+json": {"schema": {
                "$ref": "#/components/schemas/Problem"}}}
    assert get["security"] == [{"bearer": []}, {"permanentToken": []}] and public["security"] == []
    assert any(p["name"] == "If-Match" for p in patch["parameters"])
    assert "ETag" in get["responses"]["200"]["headers"]
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "permanentToken"}
    assert doc["components"]["schemas"]["Problem"]["title"] == "Problem"
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_a_route_without_a_response_model_is_refused_at_import() -> None:
    router = api_router()
    with pytest.raises(TypeError, match="response_model"):
        @router.get("/x")
        async def undocumented() -> JSONResponse:
            return JSONResponse({})


def test_operation_ids_are_camel_case() -> None:
    assert operation_id("list_building_units") == "listBuildingUnits"
    assert operation_id("get") == "get"


async def test_domain_errors_become_problems_with_their_status_and_members() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        resp = await client.get("/v1/public")
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["type"].endswith("/validation-error") and body["errors"] == [{"field": "q", "message": "no"}]
    assert body["instance"] == "/v1/public"


def test_etag_names_a_version_and_if_match_compares_strongly() -> None:
    v1 = etag_of({"id": "bld_1", "updated_at": "2026-01-01T00:00:00+00:00", "units": 3})
    assert v1 == etag_of({"id": "bld_1", "updated_at": "2026-01-01T00:00:00+00:00", "units": 4})
    v2 = etag_of({"id": "bld_1", "updated_at": "2026-01-01T00:00:01+00:00"})
    assert v1 != v2 and v1.startswith('"') and v1.endswith('"')
    check_if_match(None, v1)
    check_if_match("*", v1)
    check_if_match(f'"other", {v1}', v1)
    for bad in (v2, f"W/{v1}", '""'):
        with pytest.raises(PreconditionFailed):
            check_if_match(bad, v1)


def test_merge_fields_puts_everything_or_patches_what_was_sent() -> None:
    before: Any = {"name": "old", "size": 3, "other": "kept out"}
    patch = ThingPatch.model_validate({"size": None})
    assert merge_fields(before, patch, ("name", "size"), partial=True) == {"name": "old", "size": None}
    assert merge_fields(before, ThingPatch(name="new"), ("name", "size"), partial=False) == {"name": "new",
                                                                                                "size": None}


async def test_subscription_dispatches_typed_payloads_and_refuses_mismatched_wiring() -> None:
    seen: list[tuple[str, PaymentRecorded]] = []

    async def handle(tx: Tx, payment: PaymentRecorded) -> None:
        seen.append((tx.org_id, payment))

    sub = Subscription(topic=BILLING_EVENTS, group="g", handlers=[on(PaymentRecorded, handle)])
    assert sub.event_types == {PaymentRecorded.event_type} and sub.consumer == "g"
    data = {"payment_id": "pay_1", "org_id": "org_1", "lease_id": "lease_1", "resident_id": "res_1",
            "amount": {"amount": "10.00", "currency": "EUR"}, "method": "card", "paid_at": "2026-01-01T00:00:00Z"}
    envelope = Envelope(id="evt_1", source="hearth/billing", type=PaymentRecorded.event_type, subject="pay_1",
                        time="2026-01-01T00:00:00Z", orgid="org_1", sequence=1, data=data)
    await sub.dispatch(None, envelope, source="hearth/test")  # type: ignore[arg-type]
    [(org, payment)] = seen
    assert org == "org_1" and isinstance(payment, PaymentRecorded) and payment.payment_id == "pay_1"
    with pytest.raises(ValueError, match=r"published on property\.events"):
        Subscription(topic=BILLING_EVENTS, group="g", handlers=[on(BuildingDeleted, handle)])
    with pytest.raises(ValueError, match="at least one"):
        Subscription(topic=PROPERTY_EVENTS, group="g", handlers=[])


def test_a_service_router_with_a_plain_documented_route_is_refused() -> None:
    from fastapi import APIRouter
    from hearth_kit.runtime import _require_documented

    plain = APIRouter()

    @plain.get("/v1/loose", response_model=Data[Thing])
    async def loose() -> JSONResponse:
        return JSONResponse({})

    with pytest.raises(TypeError, match="/v1/loose"):
        _require_documented(plain)
    hidden = APIRouter(include_in_schema=False)  # edge-only routes (the gateway's) are not part of the API

    @hidden.get("/internal")
    async def internal() -> JSONResponse:
        return JSONResponse({})

    _require_documented(hidden)
    documented = APIRouter()
    documented.include_router(_app().router)  # an aggregate of api_router routers keeps their route class
    _require_documented(documented)
