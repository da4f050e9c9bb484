"""Billing rules, pure (no I/O): the rent schedule, proration, oldest-first allocation, aging, late fees.

Proration (documented rule): a month the lease covers only partly is charged
`rent * days covered / days in that month`, rounded half-up to the currency's minor unit. Days covered
run from the later of the month's first day and the lease's start to the earlier of the month's last day
and the lease's last day (end date, or the day before its termination).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hearth_billing.money import quantize

ZERO = Decimal(0)
AgingBucket = Literal["current", "days_31_60", "days_61_90", "days_over_90"]
BUCKETS: tuple[AgingBucket, ...] = ("current", "days_31_60", "days_61_90", "days_over_90")


# --- time -----------------------------------------------------------------------------------------


def local_today(timezone: str | None, *, now: datetime) -> date:
    """Today's date in a building's zone (UTC when the zone is unknown or not yet projected)."""
    try:
        return now.astimezone(ZoneInfo(timezone or "UTC")).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.astimezone(ZoneInfo("UTC")).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(period: date) -> date:
    return date(period.year + (period.month == 12), period.month % 12 + 1, 1)


def days_in_month(period: date) -> int:
    return calendar.monthrange(period.year, period.month)[1]


def due_date(period: date, due_day: int) -> date:
    """The period's due day; a day past the month's end falls on its last day (31 → 30 Apr, 28/29 Feb)."""
    return period.replace(day=min(due_day, days_in_month(period)))


# --- the rent schedule ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseTerms:
    """What the schedule needs of a lease."""

    start: date
    end: date | None  # last day, inclusive
    terminated_on: date | None  # first day it no longer runs
    rent: Decimal
    currency: str
    due_day: int

    @property
    def last_day(self) -> date | None:
        """The last day the lease runs (None = open-ended)."""
        last = self.end
        if self.terminated_on is not None:
            stop = self.terminated_on - timedelta(days=1)
            last = stop if last is None else min(last, stop)
        return last


@dataclass(frozen=True)
class RentDue:
    """One period's rent: posted on `post_on` (local date), due the same day."""

    period: date
    post_on: date
    amount: Decimal


def first_period(terms: LeaseTerms) -> date | None:
    """The first month rent is owed for (None when the lease never runs)."""
    last = terms.last_day
    if last is not None and last < terms.start:
        return None
    return month_start(terms.start)


def rent_for(terms: LeaseTerms, period: date) -> RentDue | None:
    """The rent for one month, or None when the lease does not cover any day of it.

    Posted on the period's due day, or on the lease's start when it starts on or after that day
    (a lease starting on the 15th with rent due on the 1st owes its first, prorated, month at once).
    """
    first, last_of_month = period, period.replace(day=days_in_month(period))
    covered_from = max(first, terms.start)
    last = terms.last_day
    covered_to = last_of_month if last is None else min(last_of_month, last)
    if covered_to < covered_from:
        return None
    days = (covered_to - covered_from).days + 1
    total = days_in_month(period)
    amount = terms.rent if days == total else quantize(terms.rent * days / total, terms.currency)
    post_on = max(due_date(period, terms.due_day), terms.start)
    return RentDue(period=period, post_on=post_on, amount=amount)


def next_rent(terms: LeaseTerms, *, after: date | None) -> RentDue | None:
    """The rent after period `after` (or the first one when None); None when the lease has no more."""
    period = first_period(terms) if after is None else next_month(after)
    if period is None:
        return None
    last = terms.last_day
    if last is not None and period > last:
        return None
    return rent_for(terms, period)


def rents_due(terms: LeaseTerms, *, after: date | None, today: date, limit: int = 1200) -> list[RentDue]:
    """Every rent posting whose day has come by `today` (catches up after downtime or a late lease)."""
    out: list[RentDue] = []
    due = next_rent(terms, after=after)
    while due is not None and due.post_on <= today and len(out) < limit:
        out.append(due)
        due = next_rent(terms, after=due.period)
    return out


# --- allocation (oldest first) --------------------------------------------------------------------


@dataclass(frozen=True)
class OpenItem:
    """Something owed: a charge (not void, not a credit)."""

    id: str
    amount: Decimal
    due: date
    order: int  # tie-break within a day (creation order)


@dataclass(frozen=True)
class Funds:
    """Money that pays charges: a completed payment or a credit."""

    id: str
    amount: Decimal
    order: int  # oldest first


@dataclass
class Allocation:
    """The result of applying every source of funds to the charges, oldest charge first."""

    pairs: list[tuple[str, str, Decimal]] = field(default_factory=list)  # (source, charge, amount)
    paid: dict[str, Decimal] = field(default_factory=dict)  # charge id → amount paid
    unapplied: Decimal = ZERO  # credit left over for future charges


def allocate(charges: Iterable[OpenItem], funds: Iterable[Funds]) -> Allocation:
    """Apply funds (oldest first) to charges (oldest due first); what is left over is credit."""
    out = Allocation()
    queue = sorted(charges, key=lambda c: (c.due, c.order))
    owed = [c.amount for c in queue]
    out.paid = {c.id: ZERO for c in queue}
    i = 0
    for source in sorted(funds, key=lambda f: f.order):
        left = source.amount
        while left > 0 and i < len(queue):
            take = min(left, owed[i])
            out.pairs.append((source.id, queue[i].id, take))
            out.paid[queue[i].id] += take
            owed[i] -= take
            left -= take
            if owed[i] == 0:
                i += 1
        out.unapplied += left
    return out


def charge_status(amount: Decimal, paid: Decimal) -> Literal["open", "partially_paid", "paid"]:
    if paid >= amount:
        return "paid"
    return "partially_paid" if paid > 0 else "open"


# --- aging ----------------------------------------------------------------------------------------


def aging_bucket(due: date, *, today: date) -> AgingBucket:
    """Buildium's buckets by days past due: 0-30 (current, including not yet due), 31-60, 61-90, 90+."""
    late = (today - due).days
    if late <= 30:
        return "current"
    if late <= 60:
        return "days_31_60"
    if late <= 90:
        return "days_61_90"
    return "days_over_90"


def aging(open_items: Sequence[tuple[date, Decimal]], *, today: date) -> dict[AgingBucket, Decimal]:
    """What is still owed, by bucket."""
    out: dict[AgingBucket, Decimal] = dict.fromkeys(BUCKETS, ZERO)
    for due, owed in open_items:
        out[aging_bucket(due, today=today)] += owed
    return out


# --- late fees ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LateFeePolicy:
    """An org's late-fee rule (no row: disabled, 5 grace days)."""

    grace_days: int = 5
    enabled: bool = False
    kind: Literal["flat", "percent"] = "flat"
    flat: Decimal | None = None
    percent: Decimal | None = None
    cap: Decimal | None = None


def late_fee(policy: LateFeePolicy, *, overdue: Decimal, currency: str) -> Decimal:
    """The fee for one overdue rent charge: flat, or a percent of what is overdue; never above the cap."""
    if not policy.enabled or overdue <= 0:
        return ZERO
    percent = quantize(overdue * (policy.percent or ZERO) / 100, currency)
    fee = (policy.flat or ZERO) if policy.kind == "flat" else percent
    if policy.cap is not None:
        fee = min(fee, policy.cap)
    return max(fee, ZERO)


def is_overdue(due: date, *, grace_days: int, today: date) -> bool:
    """Overdue once the grace days after the due day have passed."""
    return today > due + timedelta(days=grace_days)


def prev_month(period: date) -> date:
    return date(period.year - (period.month == 1), (period.month - 2) % 12 + 1, 1)


def schedule(terms: LeaseTerms, *, after: date | None, deposit_pending: bool) -> tuple[date | None, date | None]:
    """(next rent period, the local day the next posting is due) after period `after` (None: from the start)."""
    nxt = next_rent(terms, after=after)
    days = [nxt.post_on] if nxt else []
    if deposit_pending and first_period(terms) is not None:
        days.append(terms.start)
    return (nxt.period if nxt else None), (min(days) if days else None)
