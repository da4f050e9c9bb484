"""Request and response bodies of the webhooks API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

EndpointStatus = Literal["enabled", "disabled"]
DeliveryStatus = Literal["pending", "succeeded", "failed"]
_NO_NUL = r"^[^\x00]*$"


class EndpointIn(BaseModel):
    """A new endpoint."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, pattern=_NO_NUL, description="https URL that receives events")
    description: str = Field(default="", max_length=500, pattern=_NO_NUL)
    event_types: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=100,
                                   description="Event types or patterns such as 'hearth.lease.*' ('*' for all)")
    ordered: bool = Field(default=False, description="Hold back later events of a subject while one is failing")
    rate_limit: int | None = Field(default=None, ge=1, le=10_000, description="Deliveries per second at most")
    max_concurrency: int | None = Field(default=None, ge=1, le=100, description="Requests in flight at most")


class EndpointPatch(BaseModel):
    """Fields to change; `status: enabled` turns a disabled endpoint back on."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2048, pattern=_NO_NUL)
    description: str | None = Field(default=None, max_length=500, pattern=_NO_NUL)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=100)
    ordered: bool | None = None
    rate_limit: int | None = Field(default=None, ge=1, le=10_000)
    max_concurrency: int | None = Field(default=None, ge=1, le=100)
    status: EndpointStatus | None = None

    @model_validator(mode="after")
    def _something(self) -> EndpointPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        for name in ("url", "event_types", "ordered", "status"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class Endpoint(BaseModel):
    """An endpoint (its secret is never shown again after creation or rotation)."""

    id: str
    url: str
    description: str
    event_types: list[str]
    ordered: bool
    rate_limit: int | None
    max_concurrency: int | None
    status: EndpointStatus
    disabled_reason: str | None
    failing_since: datetime | None
    last_sequence: int = Field(description="Sequence number of the latest delivery queued for it")
    secret_rotated_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(Endpoint):
    """An endpoint with its signing secret: shown once."""

    secret: str = Field(description="whsec_... signing secret; store it now, it is not shown again")


class Attempt(BaseModel):
    """One HTTP attempt of a delivery."""

    id: str
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    response_excerpt: str | None = Field(description="First 1 KB of the answer")
    error: str | None


class Delivery(BaseModel):
    """One event to one endpoint; `id` is the `webhook-id` header, the same across retries and replays."""

    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    subject: str
    sequence: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    created_at: datetime
    updated_at: datetime
    attempt_log: list[Attempt]


class ReplayIn(BaseModel):
    """Replay from a time or from a sequence number (exactly one)."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime | None = Field(default=None, description="Replay deliveries queued at or after this")
    from_sequence: int | None = Field(default=None, ge=1, le=2**62, description="Replay from this sequence on")

    @model_validator(mode="after")
    def _one(self) -> ReplayIn:
        if (self.since is None) == (self.from_sequence is None):
            raise ValueError("give exactly one of since or from_sequence")
        if self.since is not None:
            self.since = to_utc(self.since)
        return self


def to_utc(value: datetime) -> datetime:
    """The instant in UTC (naive taken as UTC); ValueError for instants outside the representable range."""
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError as exc:
        raise ValueError("time out of range") from exc


class Replay(BaseModel):
    endpoint_id: str
    queued: int = Field(description="How many deliveries were queued again")


class EventType(BaseModel):
    type: str
    description: str


class EventTypeList(BaseModel):
    data: list[EventType]
