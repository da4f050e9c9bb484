"""Access code schedules: seed 001's fields in Hearth's style, evaluated in the building's IANA zone.

A schedule is either `{"manual": "activated" | "deactivated"}` or any of `date_range` {start, end},
`hours_per_day` {start, end} and `days_of_week`. Hours follow the seed's 1..24 numbering of the hour
slots of a day: slot h is the hour that ends at h:00, so `{"start": 9, "end": 17}` is 08:00-17:00 local
and `{"start": 1, "end": 24}` is the whole day. Everything is computed on local wall-clock dates and
converted to UTC per day, so a window keeps its local hours across daylight-saving changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A window search never walks further than this many local days (a schedule with no day left is inactive).
_HORIZON_DAYS = 400
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class DateRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: AwareDatetime | None = Field(default=None, description="Active from (RFC 3339)")
    end: AwareDatetime | None = Field(default=None, description="Active until (RFC 3339), after start")

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.start is None and self.end is None:
            raise ValueError("date_range needs start, end or both")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("date_range.end must be after date_range.start")
        for moment in (self.start, self.end):
            if moment is not None and not _EARLIEST <= moment <= _LATEST:
                raise ValueError("date_range dates must fall between 2000 and 2200")
        return self


class HoursPerDay(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: int = Field(ge=1, le=24, description="First hour slot of the day (1..24; slot h ends at h:00)")
    end: int = Field(ge=1, le=24, description="Last hour slot of the day (1..24), not before start")

    @model_validator(mode="after")
    def _ordered(self) -> HoursPerDay:
        if self.end < self.start:
            raise ValueError("hours_per_day.end must not be before hours_per_day.start")
        return self


class Schedule(BaseModel):
    """When a code opens doors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manual: Literal["activated", "deactivated"] | None = Field(
        default=None, description="Managed by hand; excludes every other field")
    date_range: DateRange | None = None
    hours_per_day: HoursPerDay | None = None
    days_of_week: list[Weekday] | None = Field(default=None, min_length=1, max_length=7)

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        timed = self.date_range is not None or self.hours_per_day is not None or self.days_of_week is not None
        if self.manual is not None and timed:
            raise ValueError("manual cannot be combined with date_range, hours_per_day or days_of_week")
        if self.manual is None and not timed:
            raise ValueError("a schedule is manual or has date_range, hours_per_day or days_of_week")
        return self


ALWAYS = Schedule(manual="activated")


def window_at(schedule: Schedule, tz_name: str, moment: datetime) -> tuple[datetime, datetime | None] | None:
    """The active window containing `moment` as (start, end) in UTC (end None = open-ended), or None."""
    if schedule.manual is not None:
        return (moment, None) if schedule.manual == "activated" else None
    for start, end in _windows(schedule, ZoneInfo(tz_name), moment - timedelta(days=1)):
        if start > moment:
            return None
        if end is None or moment < end:
            return start, end
    return None


def next_window(schedule: Schedule, tz_name: str, moment: datetime) -> tuple[datetime, datetime | None] | None:
    """The first active window that ends after `moment` (the current one, or the next), or None."""
    if schedule.manual is not None:
        return (moment, None) if schedule.manual == "activated" else None
    for start, end in _windows(schedule, ZoneInfo(tz_name), moment - timedelta(days=1)):
        if end is None or end > moment:
            return start, end
    return None


def is_active(schedule: Schedule, tz_name: str, moment: datetime) -> bool:
    return window_at(schedule, tz_name, moment) is not None


def _windows(schedule: Schedule, tz: ZoneInfo, since: datetime) -> list[tuple[datetime, datetime | None]]:
    """Active windows in time order (merged where they touch), from the local day of `since` onwards."""
    rng = schedule.date_range
    lo = rng.start if rng and rng.start else None
    hi = rng.end if rng and rng.end else None
    if schedule.hours_per_day is None and schedule.days_of_week is None:
        return [(lo or since, hi)]
    hours = schedule.hours_per_day or HoursPerDay(start=1, end=24)
    days = set(schedule.days_of_week or WEEKDAYS)
    first = max(since, lo) if lo else since
    day = first.astimezone(tz).date()
    out: list[tuple[datetime, datetime | None]] = []
    for _ in range(_HORIZON_DAYS):
        if hi is not None and _local(day, 0, tz) >= hi:
            break
        if WEEKDAYS[day.weekday()] in days:
            start = _local(day, hours.start - 1, tz)
            end = _local(day, hours.end, tz)
            if lo is not None:
                start = max(start, lo)
            if hi is not None:
                end = min(end, hi)
            if start < end:
                if out and out[-1][1] == start:  # 24-hour days run into each other
                    out[-1] = (out[-1][0], end)
                else:
                    out.append((start, end))
        day += timedelta(days=1)
        if len(out) > 2 and out[-2][1] is not None and out[-2][1] > since + timedelta(days=2):
            break
    return out


def _local(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """Local wall-clock `hour`:00 of `day` (24 = next midnight) as UTC; a skipped hour maps past the gap."""
    if hour == 24:
        day, hour = day + timedelta(days=1), 0
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)
