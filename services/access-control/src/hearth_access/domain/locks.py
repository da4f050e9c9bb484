"""Lock facts from vendor observations: state, method, online/battery transitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LockState = Literal["locked", "unlocked", "jammed", "unknown"]
Method = Literal["keypad", "app", "manual", "auto", "unknown"]
_METHODS: dict[str, Method] = {"keypad": "keypad", "api": "app", "portal": "app", "manual": "manual",
                               "auto": "auto"}


def method_of(vendor_method: str | None) -> Method:
    """Seed 001's method (manual, keypad, portal, api) in Hearth's terms."""
    return _METHODS.get((vendor_method or "").lower(), "unknown")


@dataclass(frozen=True)
class Observation:
    """What the vendor's status says about a lock now."""

    state: str
    battery: int | None
    minutes_since_update: int


@dataclass(frozen=True)
class Transition:
    """What changed since the last observation: the facts to announce."""

    went_offline: bool
    came_online: bool
    battery_low: bool
    state: LockState


def observe(*, previous_state: str, previous_online: bool, previous_battery: int | None, seen: Observation,
            offline_after_minutes: int, battery_low_pct: int) -> Transition:
    """Compare a status reading with what Hearth knew; jammed stays until the lock reports a real state."""
    online = seen.minutes_since_update < offline_after_minutes
    if seen.state in ("locked", "unlocked"):
        state: LockState = seen.state  # type: ignore[assignment]
    elif previous_state == "jammed":
        state = "jammed"
    else:
        state = "unknown"
    low = (seen.battery is not None and seen.battery < battery_low_pct
           and (previous_battery is None or previous_battery >= battery_low_pct))
    return Transition(went_offline=previous_online and not online, came_online=online and not previous_online,
                      battery_low=low, state=state)
