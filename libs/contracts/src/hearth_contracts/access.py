"""Facts the access-control service publishes on `access.events` (DESIGN §4a).

Lock facts are keyed by lock id, code facts by code id, access clearing by unit id. The access-control
service adds its other events (locked, unlocked, code lifecycle) here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hearth_contracts.envelope import EventData
from hearth_contracts.registry import register
from hearth_contracts.topics import ACCESS_EVENTS

CodePurpose = Literal["resident", "technician", "guest", "staff"]
LockMethod = Literal["keypad", "app", "manual", "auto", "unknown"]


class _AccessEvent(EventData):
    topic = ACCESS_EVENTS.name

    org_id: str = Field(description="Owning org, org_...")


class _LockFact(_AccessEvent):
    lock_id: str = Field(description="Lock id, lock_...")
    building_id: str = Field(description="Building of the lock, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the lock, unit_...; null for common doors")
    battery_pct: int | None = Field(default=None, description="Battery level 0..100 when known")
    at: datetime = Field(description="When the lock reported it (RFC 3339)")


@register
class LockJammed(_LockFact):
    """A lock reported that its bolt is jammed."""

    event_type = "hearth.lock.jammed.v1"


@register
class LockTampered(_LockFact):
    """A lock reported tampering."""

    event_type = "hearth.lock.tampered.v1"


@register
class LockBatteryLow(_LockFact):
    """A lock's battery fell below the low mark."""

    event_type = "hearth.lock.battery_low.v1"


@register
class LockOffline(_LockFact):
    """A lock stopped answering."""

    event_type = "hearth.lock.offline.v1"


@register
class LockOnline(_LockFact):
    """A lock answers again."""

    event_type = "hearth.lock.online.v1"


class CodeRefs(BaseModel):
    """What an access code was issued for."""

    model_config = ConfigDict(frozen=True)

    request_id: str | None = Field(default=None, description="Maintenance request, req_...")
    lease_id: str | None = Field(default=None, description="Lease, lease_...")


@register
class AccessCodeUsed(_AccessEvent):
    """An access code was entered on a lock's keypad (keyed by code id)."""

    event_type = "hearth.access_code.used.v1"
    access_code_id: str = Field(description="Code id, code_...")
    lock_id: str = Field(description="Lock it was used on, lock_...")
    purpose: CodePurpose = Field(description="resident, technician, guest or staff")
    refs: CodeRefs = Field(default_factory=CodeRefs, description="Lease or request the code belongs to")
    at: datetime = Field(description="When it was used (RFC 3339)")


@register
class UnitAccessCleared(_AccessEvent):
    """Every lock of a unit confirmed that a lease's codes are removed (keyed by unit id)."""

    event_type = "hearth.unit.access_cleared.v1"
    unit_id: str = Field(description="Unit id, unit_...")
    lease_id: str = Field(description="Lease whose codes were removed, lease_...")
    cleared_at: datetime = Field(description="When the last lock confirmed removal (RFC 3339)")
