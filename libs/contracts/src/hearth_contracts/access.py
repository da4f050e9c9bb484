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
from hearth_contracts.topics import ACCESS_COMMANDS, ACCESS_EVENTS

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


# --- lock state facts (added by access-control) ------------------------------------------------


class _LockOperated(_LockFact):
    method: LockMethod = Field(description="How: keypad, app (Hearth or vendor API), manual, auto, unknown")
    access_code_id: str | None = Field(default=None, description="Code used on the keypad, code_..., if known")
    action_attempt_id: str | None = Field(default=None, description="Hearth action attempt that caused it, act_...")


@register
class LockLocked(_LockOperated):
    """A lock reported that it is locked."""

    event_type = "hearth.lock.locked.v1"


@register
class LockUnlocked(_LockOperated):
    """A lock reported that it is unlocked."""

    event_type = "hearth.lock.unlocked.v1"


# --- action attempts (keyed by attempt id) --------------------------------------------------------

LockAction = Literal["lock", "unlock"]
ActionErrorType = Literal["lock_offline", "lock_jammed", "vendor_error", "action_attempt_expired"]


class _AttemptEvent(_AccessEvent):
    action_attempt_id: str = Field(description="Action attempt id, act_...")
    lock_id: str = Field(description="Lock id, lock_...")
    action: LockAction = Field(description="lock or unlock")


@register
class ActionAttemptSucceeded(_AttemptEvent):
    """The vendor carried out a lock or unlock command."""

    event_type = "hearth.action_attempt.succeeded.v1"
    finished_at: datetime = Field(description="When it finished (RFC 3339)")


@register
class ActionAttemptFailed(_AttemptEvent):
    """A lock or unlock command ended in an error."""

    event_type = "hearth.action_attempt.failed.v1"
    error_type: ActionErrorType = Field(description="lock_offline, lock_jammed, vendor_error, action_attempt_expired")
    error_message: str = Field(description="What went wrong, for people")
    finished_at: datetime = Field(description="When it finished (RFC 3339)")


# --- commands on access.commands (orders, not facts; keyed by lock id) ------------------------------


class _LockCommand(EventData):
    topic = ACCESS_COMMANDS.name

    org_id: str = Field(description="Owning org, org_...")
    action_attempt_id: str = Field(description="The attempt that tracks this command, act_...")
    lock_id: str = Field(description="Lock id, lock_...")
    expires_at: datetime = Field(description="Not to be carried out after this moment (RFC 3339)")


@register
class LockDoor(_LockCommand):
    """Order: lock this lock."""

    event_type = "hearth.lock.lock_door.v1"


@register
class UnlockDoor(_LockCommand):
    """Order: unlock this lock."""

    event_type = "hearth.lock.unlock_door.v1"


# --- access code lifecycle (keyed by code id) ------------------------------------------------------

CodeStatus = Literal["new", "activation_pending", "activation_pending_with_failure", "activated",
                     "deactivation_pending", "deactivation_pending_with_failure", "deactivated"]


class _CodeEvent(_AccessEvent):
    access_code_id: str = Field(description="Code id, code_...")
    purpose: CodePurpose = Field(description="resident, technician, guest or staff")
    refs: CodeRefs = Field(default_factory=CodeRefs, description="Lease or request the code belongs to")


@register
class AccessCodeCreated(_CodeEvent):
    """An access code was issued (the code itself never travels in events)."""

    event_type = "hearth.access_code.created.v1"
    name: str = Field(description="Code name")
    lock_ids: list[str] = Field(description="Locks it is programmed on, lock_...")
    unit_id: str | None = Field(default=None, description="Unit it opens, unit_..., if issued for a unit")


@register
class AccessCodeUpdated(_CodeEvent):
    """An access code's name or schedule changed."""

    event_type = "hearth.access_code.updated.v1"
    name: str = Field(description="Code name")


@register
class AccessCodeDeleted(_CodeEvent):
    """Removal of an access code was asked for; locks confirm it with `removed`."""

    event_type = "hearth.access_code.deleted.v1"


@register
class AccessCodeRemoved(_CodeEvent):
    """Every lock confirmed that the code is gone."""

    event_type = "hearth.access_code.removed.v1"
    removed_at: datetime = Field(description="When the last lock confirmed (RFC 3339)")


@register
class AccessCodeLockStatusChanged(_CodeEvent):
    """A code's state on one lock moved (seed 001's seven states)."""

    event_type = "hearth.access_code.lock_status_changed.v1"
    lock_id: str = Field(description="Lock id, lock_...")
    status: CodeStatus = Field(description="The code's new state on that lock")


@register
class AccessCodeSyncFailed(_CodeEvent):
    """Programming or removing a code on a lock failed too often; Hearth stopped retrying."""

    event_type = "hearth.access_code.sync_failed.v1"
    lock_id: str = Field(description="Lock id, lock_...")
    attempts: int = Field(description="How many times it was tried")
    error: str = Field(description="The last error")


# --- building lockdown (keyed by building id) ------------------------------------------------------


@register
class LockdownStarted(_AccessEvent):
    """Every lock of a building was ordered locked."""

    event_type = "hearth.lockdown.started.v1"
    lockdown_id: str = Field(description="Lockdown id, ldn_...")
    building_id: str = Field(description="Building id, bld_...")
    action_attempt_ids: list[str] = Field(description="One lock attempt per lock, act_...")


@register
class LockdownLifted(_AccessEvent):
    """A lockdown ended; locks that were unlocked before it were ordered unlocked again."""

    event_type = "hearth.lockdown.lifted.v1"
    lockdown_id: str = Field(description="Lockdown id, ldn_...")
    building_id: str = Field(description="Building id, bld_...")
    action_attempt_ids: list[str] = Field(description="Unlock attempts that restore earlier states, act_...")
