"""Request and response models of the access-control API (strict input: unknown fields are refused)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hearth_access.domain.schedule import Schedule

T = TypeVar("T")


def _within_years(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not datetime(1970, 1, 1, tzinfo=UTC) <= value <= datetime(2200, 1, 1, tzinfo=UTC):
        raise ValueError("must fall between 1970 and 2200")
    return value


# A query-string moment Postgres can hold (naive = UTC).
Moment = Annotated[datetime, AfterValidator(_within_years)]

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$", strip_whitespace=True)]
HearthId = Annotated[str, StringConstraints(min_length=3, max_length=64, pattern=r"^[a-z]{2,6}_[0-9a-z]{1,40}$")]
PinCode = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=r"^[0-9]+$")]
Purpose = Literal["resident", "technician", "guest", "staff"]
Notifications = Literal["first-use", "every-use"]


class Meta(BaseModel):
    total: int
    page: int
    limit: int


class One(BaseModel, Generic[T]):
    data: T


class Page(BaseModel, Generic[T]):
    data: list[T]
    meta: Meta


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- vendors ----------------------------------------------------------------------------------------


class VendorIn(_In):
    name: Name = Field(description="A name for this vendor account, unique in the org")
    kind: Literal["aurmur"] = Field(default="aurmur", description="Vendor API spoken (seed 001)")
    base_url: Annotated[str, StringConstraints(min_length=8, max_length=500, pattern=r"^https?://[^\s\x00]+$")] = Field(
        description="The vendor API's base URL, e.g. https://api.aurmur.com")
    permanent_token: Annotated[str, StringConstraints(min_length=8, max_length=2000,
                                                      pattern=r"^[\x21-\x7e]+$")] = Field(
        description="The account's permanent token (stored encrypted, never shown again)")


class VendorOut(BaseModel):
    id: str
    name: str
    kind: str
    base_url: str
    status: Literal["pending", "ok", "degraded"]
    last_error: str | None
    last_sync_at: str | None
    created_at: str | None
    locks_created: int | None = None


class ListingMapIn(_In):
    building_id: HearthId = Field(description="Building the listing's locks belong to")
    unit_id: HearthId | None = Field(default=None, description="Unit whose doors these are; null = common doors")


class ListingOut(BaseModel):
    id: str
    vendor_id: str
    vendor_listing_id: str
    name: str
    code_length: int
    timezone: str
    vendor_lock_ids: list[str]
    building_id: str | None
    unit_id: str | None


# --- locks and attempts ------------------------------------------------------------------------------


class LockOut(BaseModel):
    id: str
    name: str
    model: str | None
    vendor_id: str
    vendor_lock_id: str
    listing_id: str | None
    building_id: str | None
    unit_id: str | None
    state: Literal["locked", "unlocked", "jammed", "unknown"]
    battery_pct: int | None
    online: bool
    last_seen: str | None
    code_length: dict[str, int]
    max_codes: int


class AttemptError(BaseModel):
    type: Literal["lock_offline", "lock_jammed", "vendor_error", "action_attempt_expired"]
    message: str | None


class AttemptOut(BaseModel):
    id: str
    action_type: Literal["LOCK_DOOR", "UNLOCK_DOOR"]
    action: Literal["lock", "unlock"]
    lock_id: str
    status: Literal["pending", "success", "error"]
    error: AttemptError | None
    lockdown_id: str | None
    created_at: str | None
    expires_at: str | None
    finished_at: str | None


class LockEventOut(BaseModel):
    id: str
    lock_id: str
    type: str
    method: str | None
    access_code_id: str | None
    battery_pct: int | None
    occurred_at: str | None


# --- codes -----------------------------------------------------------------------------------------------


class CodeRefsIn(_In):
    lease_id: HearthId | None = None
    request_id: HearthId | None = None


class CodeIn(_In):
    name: Name
    code: PinCode | None = Field(default=None, description="4..8 digits as a string; omitted = generated")
    unit_id: HearthId | None = Field(default=None, description="The unit's locks plus its building's common doors")
    lock_ids: list[HearthId] | None = Field(default=None, min_length=1, max_length=100)
    purpose: Purpose = "guest"
    refs: CodeRefsIn = Field(default_factory=CodeRefsIn)
    unlock_notifications: Notifications | None = None
    schedule: Schedule = Field(default_factory=lambda: Schedule(manual="activated"))

    @model_validator(mode="after")
    def _target(self) -> CodeIn:
        if (self.unit_id is None) == (self.lock_ids is None):
            raise ValueError("give exactly one of unit_id or lock_ids")
        return self


class CodeUpdateIn(_In):
    name: Name
    unlock_notifications: Notifications | None = None
    schedule: Schedule


class CodeLockState(BaseModel):
    lock_id: str
    status: str
    updated_at: str | None


class CodeRefsOut(BaseModel):
    lease_id: str | None
    request_id: str | None


class CodeOut(BaseModel):
    id: str
    name: str
    code: str
    purpose: Purpose
    unit_id: str | None
    building_id: str | None
    lock_ids: list[str]
    refs: CodeRefsOut
    resident_id: str | None
    unlock_notifications: str | None
    schedule: dict[str, object]
    timezone: str
    status: str
    deleted: bool
    removed_at: str | None
    first_used_at: str | None
    lock_status: list[CodeLockState]
    created_at: str | None
    updated_at: str | None


# --- lockdown -------------------------------------------------------------------------------------------


class LockdownLock(BaseModel):
    lock_id: str
    previous_state: str
    lock_attempt_id: str
    restore_attempt_id: str | None


class LockdownOut(BaseModel):
    id: str
    building_id: str
    status: Literal["active", "lifted"]
    started_at: str | None
    lifted_at: str | None
    locks: list[LockdownLock]
    action_attempts: list[AttemptOut]


class Since(BaseModel):
    since: datetime | None = None
    until: datetime | None = None
