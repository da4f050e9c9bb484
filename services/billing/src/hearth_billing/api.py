"""Billing routes: parse, delegate to the use cases, shape the response."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.responses import JSONResponse
from hearth_kit.api import api_router, problems
from hearth_kit.auth import CurrentPrincipal
from hearth_kit.pagination import Pagination, page_body
from hearth_kit.routes import IdempotencyKey, create_once, traceparent
from hearth_kit.runtime import Deps

from hearth_billing import models
from hearth_billing.models import (
    ID_PATTERN,
    ChargeIn,
    ChargeKind,
    ChargeStatus,
    Day,
    FailIn,
    PaymentIn,
    PaymentMethod,
    PaymentStatus,
    ReverseIn,
    SettingsIn,
    VoidIn,
)
from hearth_billing.service import charges, ledger, payments
from hearth_billing.service.accounts import wait_for_lease

router = api_router(prefix="/v1")
PathId = Annotated[str, Path(pattern=ID_PATTERN, description="A prefixed id")]
QueryId = Annotated[str | None, Query(pattern=ID_PATTERN)]
PROBLEMS = problems(404, 409)  # besides the 401/422/429 every documented route gets
# writes check the role in the route (principal.require_write), so their 403 is declared here
WRITE_PROBLEMS = problems(403, 404, 409)


def _wait_seconds(deps: Deps) -> float:
    return float(getattr(deps.settings, "projection_wait_seconds", 2.0))


# --- charges ----------------------------------------------------------------------------------------


@router.post("/charges", status_code=201, tags=["charges"], operation_id="createCharge",
             response_model=models.Data[models.ChargeOut], responses=WRITE_PROBLEMS)
async def create_charge(body: ChargeIn, principal: CurrentPrincipal, deps: Deps, request: Request,
                        idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Post a manual charge (rent, deposit, late_fee, utility, other) or a credit on a lease."""
    principal.require_write()
    await wait_for_lease(deps.db, principal=principal, lease_id=body.lease_id, seconds=_wait_seconds(deps))
    return await create_once(
        deps, principal, key=idempotency_key, request_body=body.model_dump(mode="json"),
        create=lambda conn: charges.create_charge(conn, principal=principal, body=body,
                                                  traceparent=traceparent(request)))


@router.get("/charges", tags=["charges"], operation_id="listCharges", response_model=models.Page[models.ChargeOut],
            responses=PROBLEMS)
async def list_charges(principal: CurrentPrincipal, deps: Deps, page: Pagination, lease_id: QueryId = None,
                       building_id: QueryId = None, status: Annotated[ChargeStatus | None, Query()] = None,
                       kind: Annotated[ChargeKind | None, Query()] = None,
                       due_from: Annotated[Day | None, Query(description="Due on or after")] = None,
                       due_to: Annotated[Day | None, Query(description="Due on or before")] = None) -> dict[str, Any]:
    """Charges, latest due first."""
    items, total = await charges.list_charges(deps.db, principal=principal, page=page, lease_id=lease_id,
                                              status=status, kind=kind, building_id=building_id,
                                              due_from=due_from, due_to=due_to)
    return page_body(items, total=total, params=page)


@router.get("/charges/{charge_id}", tags=["charges"], operation_id="getCharge",
            response_model=models.Data[models.ChargeOut], responses=PROBLEMS)
async def get_charge(charge_id: PathId, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One charge."""
    return {"data": await charges.get_charge(deps.db, principal=principal, charge_id=charge_id)}


@router.post("/charges/{charge_id}/void", tags=["charges"], operation_id="voidCharge",
             response_model=models.Data[models.ChargeOut], responses=WRITE_PROBLEMS)
async def void_charge(charge_id: PathId, principal: CurrentPrincipal, deps: Deps, request: Request,
                      body: VoidIn | None = None) -> dict[str, Any]:
    """Void an unpaid charge (409 once anything was paid on it) or a credit."""
    return {"data": await charges.void_charge(deps.db, principal=principal, charge_id=charge_id,
                                              body=body or VoidIn(), traceparent=traceparent(request))}


# --- payments ---------------------------------------------------------------------------------------


@router.post("/payments", status_code=201, tags=["payments"], operation_id="recordPayment",
             response_model=models.Data[models.PaymentOut], responses=WRITE_PROBLEMS)
async def record_payment(body: PaymentIn, principal: CurrentPrincipal, deps: Deps, request: Request,
                         idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Record a payment (cash, cheque, bank transfer, card): it pays the oldest open charges; the rest is credit."""
    principal.require_write()
    await wait_for_lease(deps.db, principal=principal, lease_id=body.lease_id, seconds=_wait_seconds(deps))
    return await create_once(
        deps, principal, key=idempotency_key, request_body=body.model_dump(mode="json"),
        create=lambda conn: payments.record_payment(conn, principal=principal, body=body,
                                                    traceparent=traceparent(request)))


@router.get("/payments", tags=["payments"], operation_id="listPayments", response_model=models.Page[models.PaymentOut],
            responses=PROBLEMS)
async def list_payments(
    principal: CurrentPrincipal, deps: Deps, page: Pagination,
    date_from: Annotated[Day | None, Query(alias="from", description="Received on or after (UTC date)")] = None,
    date_to: Annotated[Day | None, Query(alias="to", description="Received on or before (UTC date)")] = None,
    status: Annotated[PaymentStatus | None, Query()] = None, building_id: QueryId = None,
    property_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="Seed 002's name for building_id")] = None,
    resident_id: QueryId = None, lease_id: QueryId = None, method: Annotated[PaymentMethod | None, Query()] = None,
) -> dict[str, Any]:
    """Payments by date range, status, building (property), resident, lease and method; latest first."""
    start = datetime.combine(date_from, time.min, tzinfo=UTC) if date_from else None
    before = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC) if date_to else None
    items, total = await payments.list_payments(
        deps.db, principal=principal, page=page, received_from=start, received_before=before, status=status,
        building_id=building_id or property_id, resident_id=resident_id, lease_id=lease_id, method=method)
    return page_body(items, total=total, params=page)


@router.get("/payments/{payment_id}", tags=["payments"], operation_id="getPayment",
            response_model=models.Data[models.PaymentOut], responses=PROBLEMS)
async def get_payment(payment_id: PathId, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One payment with the charges it paid."""
    return {"data": await payments.get_payment(deps.db, principal=principal, payment_id=payment_id)}


@router.post("/payments/{payment_id}/complete", tags=["payments"], operation_id="completePayment",
             response_model=models.Data[models.PaymentOut], responses=WRITE_PROBLEMS)
async def complete_payment(payment_id: PathId, principal: CurrentPrincipal, deps: Deps,
                           request: Request) -> dict[str, Any]:
    """A pending payment cleared (e.g. the cheque): it now pays charges."""
    return {"data": await payments.change_status(deps.db, principal=principal, payment_id=payment_id,
                                                 to="completed", traceparent=traceparent(request))}


@router.post("/payments/{payment_id}/fail", tags=["payments"], operation_id="failPayment",
             response_model=models.Data[models.PaymentOut], responses=WRITE_PROBLEMS)
async def fail_payment(payment_id: PathId, principal: CurrentPrincipal, deps: Deps, request: Request,
                       body: FailIn | None = None) -> dict[str, Any]:
    """A pending payment did not go through."""
    return {"data": await payments.change_status(deps.db, principal=principal, payment_id=payment_id, to="failed",
                                                 body=body or FailIn(), traceparent=traceparent(request))}


@router.post("/payments/{payment_id}/reverse", tags=["payments"], operation_id="reversePayment",
             response_model=models.Data[models.PaymentOut], responses=WRITE_PROBLEMS)
async def reverse_payment(payment_id: PathId, principal: CurrentPrincipal, deps: Deps, request: Request,
                          body: ReverseIn | None = None) -> dict[str, Any]:
    """Reverse a completed payment (bounced cheque, charge-back), optionally with an NSF fee."""
    return {"data": await payments.change_status(deps.db, principal=principal, payment_id=payment_id,
                                                 to="reversed", body=body or ReverseIn(),
                                                 traceparent=traceparent(request))}


# --- ledgers and balances ---------------------------------------------------------------------------


@router.get("/leases/{lease_id}/ledger", tags=["balances"], operation_id="getLeaseLedger",
            response_model=models.LedgerPage, responses=PROBLEMS)
async def lease_ledger(lease_id: PathId, principal: CurrentPrincipal, deps: Deps, page: Pagination) -> dict[str, Any]:
    """A lease's ledger, oldest first, each entry with the running balance."""
    return await ledger.lease_ledger(deps.db, principal=principal, lease_id=lease_id, page=page)


@router.get("/balances", tags=["balances"], operation_id="getBalances", response_model=models.Data[models.BalancesOut],
            responses=PROBLEMS)
async def get_balances(principal: CurrentPrincipal, deps: Deps, building_id: QueryId = None) -> dict[str, Any]:
    """What the org (or one building) is owed, per currency, with aging buckets."""
    return {"data": await ledger.balances(deps.db, principal=principal, building_id=building_id)}


@router.get("/residents/{resident_id}/balance", tags=["balances"], operation_id="getResidentBalance",
            response_model=models.Data[models.BalancesOut], responses=PROBLEMS)
async def resident_balance(resident_id: PathId, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """A resident's balance over their leases, with aging buckets."""
    return {"data": await ledger.balances(deps.db, principal=principal, resident_id=resident_id)}


@router.get("/billing-settings", tags=["billing-settings"], operation_id="getBillingSettings",
            response_model=models.Data[models.SettingsOut])
async def get_settings(principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """The org's late-fee policy."""
    return {"data": await ledger.get_settings(deps.db, principal=principal)}


@router.put("/billing-settings", tags=["billing-settings"], operation_id="putBillingSettings",
            response_model=models.Data[models.SettingsOut], responses=WRITE_PROBLEMS)
async def put_settings(body: SettingsIn, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """Set the org's late-fee policy: grace days, flat or percent fee, cap."""
    return {"data": await ledger.put_settings(deps.db, principal=principal, body=body)}
