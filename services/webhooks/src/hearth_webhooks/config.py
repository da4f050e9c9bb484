"""Webhooks service settings (env prefix HEARTH_WEBHOOKS_, falling back to HEARTH_)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from cryptography.fernet import Fernet
from hearth_kit.settings import ServiceSettings
from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

# Svix's schedule: the first attempt at once, then these pauses between attempts (seconds).
SVIX_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class Settings(ServiceSettings):
    """Webhooks service settings."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_WEBHOOKS_", extra="ignore")

    service_name: str = "webhooks"
    db_schema: str = "webhooks"
    port: int = 8107
    database_url: str = "postgresql://hearth_webhooks:hearth_webhooks@127.0.0.1:5432/hearth"
    # The delivery tables are hot in memory: at the default random_page_cost (4, spinning disks) the
    # planner hashed the whole deliveries table to update a batch of a few hundred rows by id (37 ms per
    # outcome batch at 32k rows, Postgres the bottleneck) instead of probing the primary key.
    db_session_settings: dict[str, str] = Field(default_factory=lambda: {"random_page_cost": "1.1"})

    # Fernet keys (JSON list) sealing endpoint secrets at rest: the first seals, all open (rotation = add a
    # new key in front, re-seal, drop the old). Empty: secrets stored in clear (dev only; prod refuses).
    secret_encryption_keys: list[str] = Field(default_factory=list)

    # Fan-out: at most this many records per batch (one transaction), and how long the broker may hold a
    # fetch waiting for records (a batch is whatever has arrived; nothing waits to fill one).
    fanout_max_records: int = Field(default=2000, ge=1, le=50_000)
    # (The broker answers as soon as a record arrives: this only paces idle fetches, one per topic.)
    fanout_wait_ms: int = Field(default=500, ge=1, le=5000)
    # Where a new consumer group starts: `earliest` in production (nothing is missed); tests and benchmarks
    # with a fresh schema use `latest` (and wait for the positions) instead of reading the topics' history.
    fanout_start: Literal["earliest", "latest"] = "earliest"

    # Delivery
    retry_schedule: list[float] = Field(default_factory=lambda: list(SVIX_RETRY_SCHEDULE))
    retry_jitter: float = Field(default=0.2, ge=0, le=0.5)
    # Longest Retry-After honoured (a partner cannot park a delivery for a month).
    max_retry_after_seconds: float = Field(default=86_400.0, gt=0)
    request_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    # A claimed delivery whose worker died is attempted again after this long (same webhook-id).
    claim_lease_seconds: float | None = Field(default=None, gt=0)
    # An endpoint that fails without a single success for this long is disabled.
    disable_after_seconds: float = Field(default=5 * 86_400.0, gt=0)
    # The old secret keeps signing (beside the new one) this long after a rotation.
    rotation_overlap_seconds: float = Field(default=86_400.0, ge=0)
    default_max_concurrency: int = Field(default=10, ge=1, le=100)
    max_in_flight: int = Field(default=512, ge=1, le=10_000)
    claim_batch: int = Field(default=500, ge=1, le=10_000)
    poll_seconds: float = Field(default=0.25, gt=0)
    # The delivery log (attempts, finished deliveries, their events) is kept this long, then pruned.
    delivery_retention_days: int = Field(default=30, ge=1, le=3650)
    retention_interval_seconds: float = Field(default=3600.0, gt=0)
    # Networks the operator trusts despite being private/loopback/... (CIDRs), e.g. ["127.0.0.0/8"] in tests.
    ssrf_allowlist: list[str] = Field(default_factory=list)
    # http:// endpoints are accepted only when this is on (dev/test); prod needs https.
    allow_http: bool | None = None

    @field_validator("ssrf_allowlist")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _schedule(cls, value: list[float]) -> list[float]:
        if any(v < 0 for v in value):
            raise ValueError("retry_schedule holds pauses in seconds (>= 0)")
        return value

    @model_validator(mode="after")
    def _webhook_secrets(self) -> Settings:
        for key in self.secret_encryption_keys:
            try:
                Fernet(key)
            except ValueError as exc:
                raise ValueError("HEARTH_WEBHOOKS_SECRET_ENCRYPTION_KEYS must hold Fernet keys "
                                 "(32 url-safe base64-encoded bytes)") from exc
        if self.environment == "prod" and not self.secret_encryption_keys:
            raise ValueError("prod keeps endpoint secrets encrypted: set HEARTH_WEBHOOKS_SECRET_ENCRYPTION_KEYS")
        return self

    @property
    def http_allowed(self) -> bool:
        return self.allow_http if self.allow_http is not None else self.environment != "prod"

    @property
    def lease_seconds(self) -> float:
        return self.claim_lease_seconds or self.request_timeout_seconds + 15.0
