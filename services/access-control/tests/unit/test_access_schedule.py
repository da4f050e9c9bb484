"""Schedules in the building's zone: date range, hours per day, weekdays, manual, daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hearth_access.domain.schedule import DateRange, HoursPerDay, Schedule, is_active, next_window, window_at
from pydantic import ValidationError

NY = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_manual() -> None:
    assert is_active(Schedule(manual="activated"), NY, utc(2030, 1, 1))
    assert not is_active(Schedule(manual="deactivated"), NY, utc(2030, 1, 1))


@pytest.mark.parametrize(("moment", "active"), [
    (utc(2030, 5, 1, 13, 59), False), (utc(2030, 5, 1, 14, 0), True), (utc(2030, 5, 1, 15, 59), True),
    (utc(2030, 5, 1, 16, 0), False),
])
def test_date_range_is_half_open(moment: datetime, active: bool) -> None:
    s = Schedule(date_range=DateRange(start=utc(2030, 5, 1, 14), end=utc(2030, 5, 1, 16)))
    assert is_active(s, NY, moment) is active


def test_hours_per_day_use_local_hour_slots() -> None:
    # slots 9..17 = 08:00-17:00 New York; in July (EDT, UTC-4) that is 12:00-21:00 UTC
    s = Schedule(hours_per_day=HoursPerDay(start=9, end=17))
    assert not is_active(s, NY, utc(2030, 7, 10, 11, 59))
    assert is_active(s, NY, utc(2030, 7, 10, 12, 0))
    assert is_active(s, NY, utc(2030, 7, 10, 20, 59))
    assert not is_active(s, NY, utc(2030, 7, 10, 21, 0))


def test_days_of_week() -> None:
    s = Schedule(days_of_week=["saturday", "sunday"])
    assert not is_active(s, NY, utc(2030, 7, 12, 16))  # Friday noon in New York
    assert is_active(s, NY, utc(2030, 7, 13, 16))  # Saturday noon
    window = window_at(s, NY, utc(2030, 7, 13, 16))
    assert window is not None
    assert window == (utc(2030, 7, 13, 4), utc(2030, 7, 15, 4))  # the whole weekend, merged


def test_all_three_together() -> None:
    s = Schedule(date_range=DateRange(start=utc(2030, 7, 1), end=utc(2030, 8, 1)),
                 hours_per_day=HoursPerDay(start=10, end=12), days_of_week=["monday"])
    assert is_active(s, NY, utc(2030, 7, 8, 13, 30))  # Monday 09:30 EDT
    assert not is_active(s, NY, utc(2030, 7, 9, 13, 30))  # Tuesday
    assert not is_active(s, NY, utc(2030, 8, 5, 13, 30))  # Monday after the range
    nxt = next_window(s, NY, utc(2030, 7, 9))
    assert nxt == (utc(2030, 7, 15, 13), utc(2030, 7, 15, 16))


def test_hours_keep_local_time_across_spring_forward() -> None:
    """08:00-17:00 local is 13:00-22:00 UTC before 9 March 2031 and 12:00-21:00 UTC after."""
    s = Schedule(hours_per_day=HoursPerDay(start=9, end=17))
    before = window_at(s, NY, utc(2031, 3, 8, 15))
    after = window_at(s, NY, utc(2031, 3, 10, 15))
    assert before == (utc(2031, 3, 8, 13), utc(2031, 3, 8, 22))
    assert after == (utc(2031, 3, 10, 12), utc(2031, 3, 10, 21))


def test_fall_back_day_is_25_hours_long() -> None:
    s = Schedule(hours_per_day=HoursPerDay(start=1, end=24), days_of_week=["sunday"])
    window = window_at(s, NY, utc(2031, 11, 2, 12))  # Sunday 2 Nov 2031: clocks go back
    assert window is not None
    start, end = window
    assert end is not None and end - start == timedelta(hours=25)


def test_night_window_over_the_spring_gap() -> None:
    """Slots 1..4 (00:00-04:00 local) on the spring-forward night last three real hours."""
    s = Schedule(hours_per_day=HoursPerDay(start=1, end=4), days_of_week=["sunday"])
    window = window_at(s, NY, utc(2031, 3, 9, 6))
    assert window is not None and window[1] is not None and window[1] - window[0] == timedelta(hours=3)


@pytest.mark.parametrize("bad", [
    {"manual": "activated", "days_of_week": ["monday"]},
    {"manual": "activated", "date_range": {"start": "2030-01-01T00:00:00Z"}},
    {},
    {"hours_per_day": {"start": 0, "end": 5}},
    {"hours_per_day": {"start": 9, "end": 25}},
    {"hours_per_day": {"start": 10, "end": 9}},
    {"date_range": {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}},
    {"date_range": {"start": "2030-01-02T00:00:00"}},  # no offset: ambiguous
    {"date_range": {"start": "9999-01-02T00:00:00Z"}},
    {"days_of_week": ["funday"]},
    {"days_of_week": []},
    {"manual": "maybe"},
])
def test_bad_schedules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Schedule.model_validate(bad)
