"""Billing routes: who may call (Reader/Writer), the one transaction (`call`), the use case, the response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import Path, Query
from fastapi.responses import JSONResponse
from hearth_kit.api import Data, Page, api_router, problems
from hearth_kit.calls import Call, Reader, Writer, single
from hearth_kit.pagination import Pagination, page_response
from hearth_kit.rules import Day

from hearth_billing import models
from hearth_billing.models import (
    ID_PATTERN,
    ChargeIn,
    ChargeKind,
    ChargeStatus,
    FailIn,
    PaymentIn,
    PaymentMethod,
    PaymentStatus,
    ReverseIn,
    SettingsIn,
    VoidIn,
)
from hearth_billing.runtime import BillingDeps
from hearth_billing.service import charges, ledger, payments
from hearth_billing.service.accounts import UnknownLease, wait_for_lease
from hearth_billing.service.charges import CHARGE
from hearth_billing.service.payments import PAYMENT, PaymentAction

router = api_router(prefix="/v1")
PathId = Annotated[str, Path(pattern=ID_PATTERN, description="A prefixed id")]
QueryId = Annotated[str | None, Query(pattern=ID_PATTERN)]


async def _with_projected_lease(call: Call, runtime: BillingDeps, lease_id: str | None,
                                create: Callable[[], Awaitable[JSONResponse]]) -> JSONResponse:
    """Run `create`; when it names a lease billing has not projected yet (signed a moment ago, its event
    still on its way), wait for it briefly, with no transaction held, and run it once more."""
    try:
        return await create()
    except UnknownLease as unknown:
        if unknown.lease_id != lease_id or not await wait_for_lease(
                runtime.db, org_id=call.principal.org_id, lease_id=unknown.lease_id,
                seconds=runtime.settings.projection_wait_seconds):
            raise
    return await create()


# --- charges ----------------------------------------------------------------------------------------


@router.post("/charges", status_code=201, tags=["charges"], response_model=Data[models.ChargeOut],
             responses=problems(404, 409))
async def create_charge(body: ChargeIn, call: Writer, runtime: BillingDeps) -> JSONResponse:
    """Post a manual charge (rent, deposit, late_fee, utility, other) or a credit on a lease."""
    return await _with_projected_lease(call, runtime, body.lease_id, lambda: call.create_once(
        body, lambda tx: charges.create_charge(tx, body), resource=CHARGE))


@router.get("/charges", tags=["charges"], response_model=Page[models.ChargeOut])
async def list_charges(call: Reader, page: Pagination, lease_id: QueryId = None, building_id: QueryId = None,
                       status: Annotated[ChargeStatus | None, Query()] = None,
                       kind: Annotated[ChargeKind | None, Query()] = None,
                       due_from: Annotated[Day | None, Query(description="Due on or after")] = None,
                       due_to: Annotated[Day | None, Query(description="Due on or before")] = None) -> JSONResponse:
    """Charges, latest due first."""
    items, total = await call.read(lambda tx: charges.list_charges(
        tx, page=page, lease_id=lease_id, status=status, kind=kind, building_id=building_id, due_from=due_from,
        due_to=due_to))
    return page_response(items, total=total, params=page)


@router.get("/charges/{charge_id}", tags=["charges"], response_model=Data[models.ChargeOut])
async def get_charge(charge_id: PathId, call: Reader) -> JSONResponse:
    """One charge."""
    return await call.get(CHARGE, charge_id)


@router.post("/charges/{charge_id}/void", tags=["charges"], response_model=Data[models.ChargeOut],
             responses=problems(409))
async def void_charge(charge_id: PathId, call: Writer, body: VoidIn | None = None) -> JSONResponse:
    """Void an unpaid charge (409 once anything was paid on it) or a credit."""
    return single(await call.write(lambda tx: charges.void_charge(tx, charge_id, body or VoidIn())))


# --- payments ---------------------------------------------------------------------------------------


@router.post("/payments", status_code=201, tags=["payments"], response_model=Data[models.PaymentOut],
             responses=problems(404, 409))
async def record_payment(body: PaymentIn, call: Writer, runtime: BillingDeps) -> JSONResponse:
    """Record a payment (cash, cheque, bank transfer, card): it pays the oldest open charges; the rest is credit.

    Send an `Idempotency-Key` header: a retried request then replays the first answer instead of paying twice.
    """
    return await _with_projected_lease(call, runtime, body.lease_id, lambda: call.create_once(
        body, lambda tx: payments.record_payment(tx, body), resource=PAYMENT))


@router.get("/payments", tags=["payments"], response_model=Page[models.PaymentOut])
async def list_payments(
    call: Reader, page: Pagination,
    date_from: Annotated[Day | None, Query(alias="from", description="Received on or after (UTC date)")] = None,
    date_to: Annotated[Day | None, Query(alias="to", description="Received on or before (UTC date)")] = None,
    status: Annotated[PaymentStatus | None, Query()] = None, building_id: QueryId = None,
    property_id: Annotated[str | None, Query(pattern=ID_PATTERN, description="Seed 002's name for building_id")] = None,
    resident_id: QueryId = None, lease_id: QueryId = None, method: Annotated[PaymentMethod | None, Query()] = None,
) -> JSONResponse:
    """Payments by date range, status, building (property), resident, lease and method; latest first."""
    start = datetime.combine(date_from, time.min, tzinfo=UTC) if date_from else None
    before = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC) if date_to else None
    items, total = await call.read(lambda tx: payments.list_payments(
        tx, page=page, received_from=start, received_before=before, status=status,
        building_id=building_id or property_id, resident_id=resident_id, lease_id=lease_id, method=method))
    return page_response(items, total=total, params=page)


@router.get("/payments/{payment_id}", tags=["payments"], response_model=Data[models.PaymentOut])
async def get_payment(payment_id: PathId, call: Reader) -> JSONResponse:
    """One payment with the charges it paid."""
    return single(await call.read(lambda tx: payments.get_payment(tx, payment_id)))


# The status actions share one use case (its transition table answers 409 for a move it does not allow);
# each keeps its own route so its body is documented precisely.
async def _move(call: Call, payment_id: str, to: PaymentAction, body: FailIn | ReverseIn | None = None) -> JSONResponse:
    return single(await call.write(lambda tx: payments.change_status(tx, payment_id, to, body)))


@router.post("/payments/{payment_id}/complete", tags=["payments"], response_model=Data[models.PaymentOut],
             responses=problems(409))
async def complete_payment(payment_id: PathId, call: Writer) -> JSONResponse:
    """A pending payment cleared (e.g. the cheque): it now pays charges."""
    return await _move(call, payment_id, "completed")


@router.post("/payments/{payment_id}/fail", tags=["payments"], response_model=Data[models.PaymentOut],
             responses=problems(409))
async def fail_payment(payment_id: PathId, call: Writer, body: FailIn | None = None) -> JSONResponse:
    """A pending payment did not go through."""
    return await _move(call, payment_id, "failed", body or FailIn())


@router.post("/payments/{payment_id}/reverse", tags=["payments"], response_model=Data[models.PaymentOut],
             responses=problems(409))
async def reverse_payment(payment_id: PathId, call: Writer, body: ReverseIn | None = None) -> JSONResponse:
    """Reverse a completed payment (bounced cheque, charge-back), optionally with an NSF fee."""
    return await _move(call, payment_id, "reversed", body or ReverseIn())


# --- ledgers and balances ---------------------------------------------------------------------------


@router.get("/leases/{lease_id}/ledger", tags=["balances"], response_model=models.LedgerPage)
async def get_lease_ledger(lease_id: PathId, call: Reader, page: Pagination) -> JSONResponse:
    """A lease's ledger, oldest first, each entry with the running balance."""
    return JSONResponse(await call.read(lambda tx: ledger.lease_ledger(tx, lease_id, page=page)))


@router.get("/balances", tags=["balances"], response_model=Data[models.BalancesOut])
async def get_balances(call: Reader, building_id: QueryId = None) -> JSONResponse:
    """What the org (or one building) is owed, per currency, with aging buckets."""
    return JSONResponse({"data": await call.read(lambda tx: ledger.balances(tx, building_id=building_id))})


@router.get("/residents/{resident_id}/balance", tags=["balances"], response_model=Data[models.BalancesOut])
async def get_resident_balance(resident_id: PathId, call: Reader) -> JSONResponse:
    """A resident's balance over their leases, with aging buckets."""
    return JSONResponse({"data": await call.read(lambda tx: ledger.balances(tx, resident_id=resident_id))})


@router.get("/billing-settings", tags=["billing-settings"], response_model=Data[models.SettingsOut])
async def get_billing_settings(call: Reader) -> JSONResponse:
    """The org's late-fee policy."""
    return JSONResponse({"data": await call.read(ledger.get_settings)})


@router.put("/billing-settings", tags=["billing-settings"], response_model=Data[models.SettingsOut])
async def put_billing_settings(body: SettingsIn, call: Writer) -> JSONResponse:
    """Set the org's late-fee policy: grace days, flat or percent fee, cap."""
    return JSONResponse({"data": await call.write(lambda tx: ledger.put_settings(tx, body))})
