"""Pure property rules: lease status by date, overlap, visibility, sorting, price range, inputs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hearth_kit.errors import BadRequest, InvalidInput
from hearth_property.domain import (
    LeaseIn,
    MoneyIn,
    Sort,
    UnitIn,
    UnitPatch,
    announcement_due,
    check_price_range,
    lease_span,
    lease_status,
    local_today,
    money_out,
    occupancy,
    parse_expand,
    parse_sort,
    spans_overlap,
    visible_for,
)
from pydantic import ValidationError

D = date


@pytest.mark.parametrize(
    ("today", "end", "terminated_on", "expected"),
    [
        (D(2025, 1, 31), D(2025, 12, 31), None, "future"),
        (D(2025, 2, 1), D(2025, 12, 31), None, "active"),
        (D(2025, 12, 31), D(2025, 12, 31), None, "active"),  # the end date is the last day
        (D(2026, 1, 1), D(2025, 12, 31), None, "past"),
        (D(2030, 1, 1), None, None, "active"),  # open-ended
        (D(2025, 5, 31), D(2025, 12, 31), D(2025, 6, 1), "active"),
        (D(2025, 6, 1), D(2025, 12, 31), D(2025, 6, 1), "terminated"),
        (D(2025, 1, 15), D(2025, 12, 31), D(2025, 1, 10), "terminated"),  # cancelled before it started
    ],
)
def test_lease_status_follows_the_dates(today: date, end: date | None, terminated_on: date | None,
                                        expected: str) -> None:
    assert lease_status(start=D(2025, 2, 1), end=end, terminated_on=terminated_on, today=today) == expected


def test_today_is_the_buildings_local_date() -> None:
    moment = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)
    assert local_today("UTC", now=moment) == D(2025, 3, 1)
    assert local_today("Asia/Tokyo", now=moment) == D(2025, 3, 2)
    assert local_today("America/Los_Angeles", now=moment) == D(2025, 3, 1)


def span(start: date, end: date | None, terminated_on: date | None = None) -> tuple[date, date | None]:
    return lease_span(start=start, end=end, terminated_on=terminated_on)


def test_overlap_rules() -> None:
    jan = span(D(2025, 1, 1), D(2025, 1, 31))
    assert spans_overlap(jan, span(D(2025, 1, 31), D(2025, 3, 1)))  # shares Jan 31
    assert not spans_overlap(jan, span(D(2025, 2, 1), D(2025, 3, 1)))  # back to back
    assert spans_overlap(jan, span(D(2024, 1, 1), None))  # open-ended before
    assert spans_overlap(span(D(2025, 1, 1), None), span(D(2030, 1, 1), D(2030, 2, 1)))
    terminated = span(D(2025, 1, 1), D(2025, 12, 31), D(2025, 3, 1))
    assert not spans_overlap(terminated, span(D(2025, 3, 1), None))  # terminated frees the unit from that day
    assert spans_overlap(terminated, span(D(2025, 2, 28), None))
    never_ran = span(D(2025, 5, 1), D(2025, 12, 31), D(2025, 4, 1))
    assert not spans_overlap(never_ran, span(D(2025, 1, 1), None))


@pytest.mark.parametrize(
    ("status", "announced", "due"),
    [("future", "none", None), ("active", "none", "activate"), ("active", "active", None),
     ("past", "active", "end"), ("terminated", "active", "end"), ("past", "none", "close"),
     ("terminated", "none", "close"), ("past", "ended", None)],
)
def test_what_the_sweep_owes_a_lease(status: str, announced: str, due: str | None) -> None:
    assert announcement_due(status, announced) == due  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("role", "sees"),
    [("admin", ["agents", "private", "public", "team"]), ("manager", ["agents", "private", "public", "team"]),
     ("leasing_agent", ["agents", "public", "team"]), ("technician", ["agents", "public", "team"]),
     ("accountant", ["agents", "public", "team"]), ("partner", ["public"]), ("someone", ["public"])],
)
def test_visibility_matrix(role: str, sees: list[str]) -> None:
    assert visible_for(role) == sees


def test_sort_parsing() -> None:
    assert parse_sort(None) == Sort("created_at", True)
    assert parse_sort("price") == Sort("price_minor", False)
    assert parse_sort("-price") == Sort("price_minor", True)
    assert parse_sort("size") == Sort("size_sqm_x100", False)
    assert parse_sort("-unit_number") == Sort("unit_number", True)
    with pytest.raises(InvalidInput) as bad:
        parse_sort("name; DROP TABLE units")
    assert bad.value.errors and "-bedrooms" in bad.value.errors[0]["allowed"]


def test_price_range_validation() -> None:
    check_price_range(None, None)
    check_price_range(Decimal("1"), Decimal("1"))
    check_price_range(Decimal("5"), None)
    with pytest.raises(BadRequest) as bad:
        check_price_range(Decimal("10"), Decimal("9.99"))
    assert bad.value.errors and bad.value.errors[0]["field"] == "min_price"


def test_expand_parsing() -> None:
    assert parse_expand("building,agent") == {"building", "agent"}
    assert parse_expand("property") == {"building"}
    assert parse_expand(None) == frozenset()
    with pytest.raises(InvalidInput):
        parse_expand("owner")


def test_money_is_exact_and_printed_with_two_decimals() -> None:
    assert money_out(Decimal("850000"), "USD") == {"amount": "850000.00", "currency": "USD"}
    assert MoneyIn.model_validate({"amount": "0.1", "currency": "eur"}).amount == Decimal("0.1")
    with pytest.raises(ValidationError):
        MoneyIn.model_validate({"amount": "1.001", "currency": "USD"})
    with pytest.raises(ValidationError):
        MoneyIn.model_validate({"amount": "-1", "currency": "USD"})


def test_unit_in_accepts_property_id_alias_and_rejects_bad_enums() -> None:
    unit = UnitIn.model_validate({"property_id": "bld_x", "name": "A", "price": {"amount": 1, "currency": "USD"}})
    assert unit.building_id == "bld_x"
    with pytest.raises(ValidationError) as bad:
        UnitIn.model_validate({"building_id": "bld_x", "name": "A", "status": "gone",
                               "price": {"amount": 1, "currency": "USD"}})
    assert "available" in str(bad.value)


def test_unit_patch_refuses_null_for_required_fields() -> None:
    assert UnitPatch.model_validate({"assigned_agent": None}).model_fields_set == {"assigned_agent"}
    with pytest.raises(ValidationError):
        UnitPatch.model_validate({"name": None})


def test_lease_input_rules() -> None:
    base = {"unit_id": "unit_x", "resident_ids": ["res_a"], "start_date": "2025-02-01", "end_date": "2025-12-31",
            "rent": {"amount": "1250.00", "currency": "USD"}, "deposit": {"amount": "2500", "currency": "USD"}}
    assert LeaseIn.model_validate(base).payment_due_day == 1
    bads: list[dict[str, Any]] = [{"end_date": "2025-01-01"}, {"payment_due_day": 29}, {"resident_ids": []},
                                  {"resident_ids": ["res_a", "res_a"]}, {"type": "fixed", "end_date": None},
                                  {"type": "weekly"}]
    for bad in bads:
        with pytest.raises(ValidationError):
            LeaseIn.model_validate({**base, **bad})
    assert LeaseIn.model_validate({**base, "type": "at_will", "end_date": None}).end_date is None


def test_occupancy() -> None:
    assert occupancy(0, 0) == 0.0
    assert occupancy(240, 233) == 0.9708


def test_unit_list_condition_on_visibility_follows_what_the_caller_may_see() -> None:
    """All four visibilities: no condition (counts stay in an index); one: an equality (an index on
    (org, visibility, sort column) gives the order); some: `= ANY`. The rows allowed are the same."""
    from hearth_property.domain import visible_for
    from hearth_property.repository.units import UnitFilter

    admin, _ = UnitFilter(org_id="org_x", visibilities=visible_for("admin")).where()
    assert "visibility" not in admin
    partner, args = UnitFilter(org_id="org_x", visibilities=visible_for("partner"), status="available").where()
    assert "u.visibility = $2" in partner and args[:3] == ["org_x", "public", "available"]
    agent, args = UnitFilter(org_id="org_x", visibilities=visible_for("leasing_agent")).where()
    assert "u.visibility = ANY($2::text[])" in agent and args[1] == ["agents", "public", "team"]
