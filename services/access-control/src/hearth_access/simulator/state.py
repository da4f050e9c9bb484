"""In-memory state of the simulated lock vendor (seed 001's "Aurmur"): accounts, locks, listings, codes.

Pure data and rules, no HTTP: the app in `app.py` maps requests onto it. Each account is reached by its
permanent token, so many tests (or orgs) share one simulator without seeing each other's locks.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

VENDOR_TIME_FORMAT = "%m/%d/%Y %I:%M %p"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class SimLock:
    lock_id: str
    name: str
    model: str = "Yale Assure Lock Push Button Deadbolt"
    state: str = "locked"  # locked | unlocked | unknown
    battery: float = 100.0
    online: bool = True
    offline_since: float | None = None
    jammed: bool = False
    max_codes: int = 20
    last_seen: float = field(default_factory=time.time)


@dataclass
class SimListing:
    listing_id: str
    name: str
    code_length: int
    timezone: str
    linked_locks: list[str]


@dataclass
class SimCode:
    code_id: str
    name: str
    listing_id: str
    code: str
    created_seq: int
    unlock_notifications: str | None = None
    manual: str | None = None
    daterangestart: str | None = None
    daterangeend: str | None = None
    hoursperdaystart: int | None = None
    hoursperdayend: int | None = None
    daysofeachweek: list[str] | None = None
    deleted: bool = False


@dataclass
class Account:
    account_id: str
    permanent_token: str
    token_ttl_seconds: int = 86_400
    max_tokens: int = 3
    latency_ms: float = 0.0
    battery_drain_pct: float = 0.5
    offline_minutes: int = 60
    rate_per_second: float = 1000.0
    tokens: dict[str, float] = field(default_factory=dict)  # temporary token -> expiry epoch
    locks: dict[str, SimLock] = field(default_factory=dict)
    listings: dict[str, SimListing] = field(default_factory=dict)
    codes: dict[str, SimCode] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)  # next calls answer these
    calls: dict[str, int] = field(default_factory=dict)  # "PUT unlock <lock-id>" -> count
    window: list[float] = field(default_factory=list)  # recent call times, for 429
    seq: int = 0
    # push: each new lock event is POSTed (signed) to this URL as it happens; polling sees it too
    push_url: str | None = None
    on_event: Callable[[Account, dict[str, Any]], None] | None = None

    # --- tokens --------------------------------------------------------------------------------

    def live_tokens(self, now: float) -> int:
        self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        return len(self.tokens)

    def mint_token(self, now: float) -> tuple[str, int] | None:
        """A new temporary token, or None when the account already holds `max_tokens` live ones (411)."""
        if self.live_tokens(now) >= self.max_tokens:
            return None
        token = secrets.token_urlsafe(48)
        expires = now + self.token_ttl_seconds
        self.tokens[token] = expires
        return token, int(expires)

    # --- locks -----------------------------------------------------------------------------------

    def add_event(self, lock: SimLock, action: str, **extra: Any) -> dict[str, Any]:
        event = {"lock-event-id": str(uuid.uuid4()), "lock-id": lock.lock_id, "lock-name": lock.name,
                 "action": action, "event-epoch": int(time.time()), **extra}
        self.events.append(event)
        if self.push_url and self.on_event is not None:
            self.on_event(self, event)
        return event

    def operate(self, lock: SimLock, action: str, *, method: str = "api", **extra: Any) -> None:
        lock.state = "locked" if action == "locked" else "unlocked"
        lock.battery = max(0.0, lock.battery - self.battery_drain_pct)
        lock.last_seen = time.time()
        self.add_event(lock, action, method=method, **extra)

    def minutes_since_seen(self, lock: SimLock, now: float) -> int:
        if lock.online:
            return 0
        return max(self.offline_minutes, int((now - (lock.offline_since or now)) / 60))

    # --- codes -----------------------------------------------------------------------------------

    def codes_on_lock(self, lock_id: str) -> list[SimCode]:
        """Codes that hold a slot on the lock, oldest first."""
        return sorted((c for c in self.codes.values() if not c.deleted
                       and lock_id in self.listings[c.listing_id].linked_locks), key=lambda c: c.created_seq)

    def slot_holders(self) -> dict[str, set[str]]:
        """Per lock, the ids of the codes that hold one of its slots (oldest codes first)."""
        per_lock: dict[str, list[SimCode]] = {}
        for c in sorted(self.codes.values(), key=lambda c: c.created_seq):
            if c.deleted:
                continue
            for lock_id in self.listings[c.listing_id].linked_locks:
                per_lock.setdefault(lock_id, []).append(c)
        return {lock_id: {c.code_id for c in codes[: self.locks[lock_id].max_codes]}
                for lock_id, codes in per_lock.items() if lock_id in self.locks}

    def has_slot(self, code: SimCode, lock: SimLock, holders: dict[str, set[str]] | None = None) -> bool:
        holders = holders if holders is not None else self.slot_holders()
        return code.code_id in holders.get(lock.lock_id, set())

    def lock_status_of(self, code: SimCode, lock: SimLock, now: float,
                       holders: dict[str, set[str]] | None = None) -> str:
        """Seed 001's per-lock status of a code."""
        if code.deleted:
            return "deactivation_pending" if not lock.online else "deactivated"
        if not lock.online:
            return "activation_pending"
        if not self.has_slot(code, lock, holders):
            return "activation_pending_with_failure"
        return "activated" if self.is_active(code, now) else "deactivated"

    def is_active(self, code: SimCode, now: float) -> bool:
        if code.manual is not None:
            return code.manual == "activated"
        tz = ZoneInfo(self.listings[code.listing_id].timezone)
        local = datetime.fromtimestamp(now, tz)
        if code.daterangestart and local < parse_vendor_time(code.daterangestart, tz):
            return False
        if code.daterangeend and local >= parse_vendor_time(code.daterangeend, tz):
            return False
        if code.hoursperdaystart is not None and code.hoursperdayend is not None:
            hour = local.hour + 1  # the seed counts hours 1..24
            if not code.hoursperdaystart <= hour <= code.hoursperdayend:
                return False
        return not (code.daysofeachweek and WEEKDAYS[local.weekday()] not in code.daysofeachweek)

    def code_doc(self, code: SimCode, now: float, holders: dict[str, set[str]] | None = None) -> dict[str, Any]:
        listing = self.listings[code.listing_id]
        holders = holders if holders is not None else self.slot_holders()
        per_lock = [{"lock-id": lid, "status": self.lock_status_of(code, self.locks[lid], now, holders)}
                    for lid in listing.linked_locks if lid in self.locks]
        statuses = {p["status"] for p in per_lock}
        summary = statuses.pop() if len(statuses) == 1 else _worst(statuses)
        doc: dict[str, Any] = {"code-id": code.code_id, "code-name": code.name, "listing-id": listing.listing_id,
                               "listing-name": listing.name, "deleted": code.deleted, "status": summary or "new",
                               "lock-status": per_lock}
        for key in ("unlock_notifications", "manual", "daterangestart", "daterangeend", "hoursperdaystart",
                    "hoursperdayend", "daysofeachweek"):
            value = getattr(code, key)
            if value is not None:
                doc[key.replace("_", "-")] = value
        return doc

    def purge_removed(self) -> None:
        """A deleted code disappears once every linked lock is online to confirm it."""
        for code in list(self.codes.values()):
            if code.deleted and all(self.locks[lid].online for lid in self.listings[code.listing_id].linked_locks
                                    if lid in self.locks):
                del self.codes[code.code_id]

    def keypad(self, lock: SimLock, entered: str, now: float) -> SimCode | None:
        """A code typed on the lock: unlocks and records who when it is programmed there and active."""
        for code in self.codes_on_lock(lock.lock_id):
            if code.code == entered and lock.online and not lock.jammed and self.has_slot(code, lock) \
                    and self.is_active(code, now):
                listing = self.listings[code.listing_id]
                slot = self.codes_on_lock(lock.lock_id).index(code) + 1
                # the seed's own example says `type` where its table says `kind`: the simulator does the same
                self.operate(lock, "unlocked", method="keypad", type="programmed", **{
                    "listing-id": listing.listing_id, "listing-name": listing.name, "used-code": str(slot),
                    "code-id": code.code_id, "code-name": code.name})
                return code
        return None


_ORDER = ("activation_pending_with_failure", "deactivation_pending_with_failure", "activation_pending",
          "deactivation_pending", "new", "activated", "deactivated")


def _worst(statuses: set[str]) -> str | None:
    for status in _ORDER:
        if status in statuses:
            return status
    return None


def parse_vendor_time(value: str, tz: ZoneInfo) -> datetime:
    return datetime.strptime(value, VENDOR_TIME_FORMAT).replace(tzinfo=tz)
