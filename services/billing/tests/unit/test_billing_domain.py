"""Billing rules, table-driven: due days, proration, the start-on/after-due-day rule, allocation, aging, fees."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hearth_billing.domain import (
    Funds,
    LateFeePolicy,
    LeaseTerms,
    OpenItem,
    aging,
    aging_bucket,
    allocate,
    due_date,
    is_overdue,
    late_fee,
    local_today,
    rent_for,
    rents_due,
    schedule,
)
from hearth_billing.money import MoneyIn
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

D = Decimal


def terms(start: date, end: date | None = None, *, rent: str = "1000.00", due_day: int = 1,
          terminated_on: date | None = None, currency: str = "USD") -> LeaseTerms:
    return LeaseTerms(start=start, end=end, terminated_on=terminated_on, rent=D(rent), currency=currency,
                      due_day=due_day)


@pytest.mark.parametrize(("period", "due_day", "expected"), [
    (date(2026, 1, 1), 31, date(2026, 1, 31)),
    (date(2026, 4, 1), 31, date(2026, 4, 30)),     # past the month's end → its last day
    (date(2026, 2, 1), 30, date(2026, 2, 28)),
    (date(2028, 2, 1), 30, date(2028, 2, 29)),     # leap year
    (date(2028, 2, 1), 29, date(2028, 2, 29)),
    (date(2027, 2, 1), 29, date(2027, 2, 28)),
    (date(2026, 6, 1), 15, date(2026, 6, 15)),
])
def test_due_day_clamps_to_month_end(period: date, due_day: int, expected: date) -> None:
    assert due_date(period, due_day) == expected


@pytest.mark.parametrize(("lease", "period", "amount", "post_on"), [
    # whole month
    (terms(date(2026, 1, 1)), date(2026, 3, 1), "1000.00", date(2026, 3, 1)),
    # starts mid-month after the due day: prorated 17/31 and posted at once on the start day
    (terms(date(2026, 1, 15)), date(2026, 1, 1), "548.39", date(2026, 1, 15)),
    # starts on the due day: full month, that day
    (terms(date(2026, 3, 10), due_day=10), date(2026, 3, 1), "709.68", date(2026, 3, 10)),
    # starts before the due day: posted on the due day
    (terms(date(2026, 3, 5), due_day=10), date(2026, 3, 1), "870.97", date(2026, 3, 10)),
    # February of a leap year: 29 days
    (terms(date(2028, 2, 15)), date(2028, 2, 1), "517.24", date(2028, 2, 15)),
    # last month ends on the 10th: 10/30
    (terms(date(2026, 1, 1), date(2026, 4, 10)), date(2026, 4, 1), "333.33", date(2026, 4, 1)),
    # terminated from the 21st (last day the 20th): 20/31
    (terms(date(2026, 1, 1), terminated_on=date(2026, 5, 21)), date(2026, 5, 1), "645.16", date(2026, 5, 1)),
    # a yen rent rounds to whole yen
    (terms(date(2026, 1, 15), rent="100000", currency="JPY"), date(2026, 1, 1), "54839", date(2026, 1, 15)),
])
def test_rent_for_a_period(lease: LeaseTerms, period: date, amount: str, post_on: date) -> None:
    due = rent_for(lease, period)
    assert due is not None
    assert (due.amount, due.post_on) == (D(amount), post_on)


def test_rent_for_a_month_the_lease_does_not_cover() -> None:
    assert rent_for(terms(date(2026, 3, 1), date(2026, 5, 31)), date(2026, 6, 1)) is None
    assert rent_for(terms(date(2026, 3, 1)), date(2026, 2, 1)) is None


def test_rents_due_catch_up_and_stop_at_today() -> None:
    lease = terms(date(2026, 1, 15), due_day=5)
    dues = rents_due(lease, after=None, today=date(2026, 4, 4))
    assert [d.period for d in dues] == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert dues[0].post_on == date(2026, 1, 15)  # started after the due day: this period at once
    assert rents_due(lease, after=date(2026, 3, 1), today=date(2026, 4, 4)) == []
    assert [d.period for d in rents_due(lease, after=date(2026, 3, 1), today=date(2026, 4, 5))] == [date(2026, 4, 1)]


def test_rents_due_end_with_the_lease() -> None:
    lease = terms(date(2026, 1, 1), date(2026, 3, 31))
    assert len(rents_due(lease, after=None, today=date(2027, 1, 1))) == 3
    never = terms(date(2026, 5, 1), terminated_on=date(2026, 5, 1))  # terminated before it began
    assert rents_due(never, after=None, today=date(2027, 1, 1)) == []
    assert schedule(never, after=None, deposit_pending=True) == (None, None)


def test_schedule_names_the_next_posting_day() -> None:
    lease = terms(date(2026, 1, 20), due_day=1)
    assert schedule(lease, after=None, deposit_pending=True) == (date(2026, 1, 1), date(2026, 1, 20))
    assert schedule(lease, after=date(2026, 1, 1), deposit_pending=False) == (date(2026, 2, 1), date(2026, 2, 1))


def test_local_today_follows_the_building_zone() -> None:
    moment = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert local_today("UTC", now=moment) == date(2026, 3, 31)
    assert local_today("Asia/Tokyo", now=moment) == date(2026, 4, 1)  # already the 1st: April's rent is due
    assert local_today("America/Los_Angeles", now=moment) == date(2026, 3, 31)
    assert local_today("Not/AZone", now=moment) == date(2026, 3, 31)


def test_allocation_pays_oldest_first_and_keeps_the_rest_as_credit() -> None:
    charges = [OpenItem("feb", D("100"), date(2026, 2, 1), 1), OpenItem("jan", D("100"), date(2026, 1, 1), 0)]
    result = allocate(charges, [Funds("p1", D("150"), 0), Funds("p2", D("80"), 1)])
    assert result.pairs == [("p1", "jan", D("100")), ("p1", "feb", D("50")), ("p2", "feb", D("50"))]
    assert result.paid == {"jan": D("100"), "feb": D("100")}
    assert result.unapplied == D("30")


@pytest.mark.parametrize(("due", "bucket"), [
    (date(2026, 6, 30), "current"), (date(2026, 5, 31), "current"), (date(2026, 5, 30), "days_31_60"),
    (date(2026, 4, 1), "days_61_90"), (date(2026, 3, 1), "days_over_90"), (date(2026, 7, 15), "current")])
def test_aging_buckets(due: date, bucket: str) -> None:
    assert aging_bucket(due, today=date(2026, 6, 30)) == bucket


def test_aging_sums_per_bucket() -> None:
    out = aging([(date(2026, 6, 1), D("10")), (date(2026, 1, 1), D("5")), (date(2026, 1, 2), D("1"))],
                today=date(2026, 6, 30))
    assert out == {"current": D("10"), "days_31_60": D(0), "days_61_90": D(0), "days_over_90": D("6")}


@pytest.mark.parametrize(("policy", "overdue", "fee"), [
    (LateFeePolicy(enabled=False, flat=D("50")), "1000", "0"),
    (LateFeePolicy(enabled=True, kind="flat", flat=D("50")), "1000", "50"),
    (LateFeePolicy(enabled=True, kind="percent", percent=D("5")), "1234.50", "61.73"),
    (LateFeePolicy(enabled=True, kind="percent", percent=D("10"), cap=D("75")), "1000", "75"),
    (LateFeePolicy(enabled=True, kind="flat", flat=D("50"), cap=D("20")), "1000", "20"),
    (LateFeePolicy(enabled=True, kind="flat", flat=D("50")), "0", "0"),
])
def test_late_fee(policy: LateFeePolicy, overdue: str, fee: str) -> None:
    assert late_fee(policy, overdue=D(overdue), currency="USD") == D(fee)


def test_overdue_after_grace_days() -> None:
    assert not is_overdue(date(2026, 3, 1), grace_days=5, today=date(2026, 3, 6))
    assert is_overdue(date(2026, 3, 1), grace_days=5, today=date(2026, 3, 7))


@pytest.mark.parametrize("body", [
    {"amount": 10.5, "currency": "USD"},          # a number may be a float
    {"amount": "10.505", "currency": "USD"},      # more decimals than USD has
    {"amount": "10.5", "currency": "JPY"},        # yen has none
    {"amount": "0", "currency": "USD"},
    {"amount": "-5.00", "currency": "USD"},
    {"amount": "1e3", "currency": "USD"},
    {"amount": " 10", "currency": "USD"},
    {"amount": "10.00", "currency": "usd"},
    {"amount": "10.00", "currency": "XXX"},
    {"amount": "99999999999999.00", "currency": "USD"},
    {"amount": "10.00", "currency": "USD", "extra": 1},
])
def test_money_in_refuses_inexact_or_unknown(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MoneyIn.model_validate(body)


def test_money_in_accepts_exact_amounts() -> None:
    assert MoneyIn.model_validate({"amount": "1250.5", "currency": "USD"}).amount == D("1250.5")
    assert MoneyIn.model_validate({"amount": "1.234", "currency": "KWD"}).amount == D("1.234")
    assert MoneyIn.model_validate({"amount": "5000", "currency": "JPY"}).amount == D("5000")
    # the kit's rule: trailing zeros add no precision, so "5000.00" yen is 5000 yen
    assert MoneyIn.model_validate({"amount": "5000.00", "currency": "JPY"}).amount == D("5000")
    # currencies come from the kit's full ISO 4217 table, not a short list of billing's own
    assert MoneyIn.model_validate({"amount": "12.50", "currency": "MUR"}).currency == "MUR"


cents = st.integers(min_value=1, max_value=500_000).map(lambda c: D(c) / 100)


@settings(max_examples=150, deadline=None)
@given(charges=st.lists(cents, max_size=12), funds=st.lists(cents, max_size=12))
def test_allocation_conserves_money(charges: list[Decimal], funds: list[Decimal]) -> None:
    items = [OpenItem(f"c{i}", a, date(2026, 1, 1 + i), i) for i, a in enumerate(charges)]
    result = allocate(items, [Funds(f"f{i}", a, i) for i, a in enumerate(funds)])
    paid = sum(result.paid.values(), D(0))
    assert paid + result.unapplied == sum(funds, D(0))
    assert all(result.paid[c.id] <= c.amount for c in items)
    assert result.unapplied == 0 or paid == sum(charges, D(0))  # credit only once everything is paid
    # oldest first: a charge is touched only when every older one is fully paid
    for older, newer in itertools.pairwise(items):
        assert result.paid[newer.id] == 0 or result.paid[older.id] == older.amount
    # what is still owed minus credit is the balance: charges - funds
    owed = sum((c.amount - result.paid[c.id] for c in items), D(0))
    assert owed - result.unapplied == sum(charges, D(0)) - sum(funds, D(0))
