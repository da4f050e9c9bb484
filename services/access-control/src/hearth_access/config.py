"""Access-control settings (env prefix HEARTH_ACCESS_, falling back to HEARTH_)."""

from __future__ import annotations

from cryptography.fernet import Fernet
from hearth_kit.settings import ServiceSettings
from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

# Seals vendor credentials in dev/test only; prod refuses to start with it (set HEARTH_ACCESS_CREDENTIAL_KEYS).
DEV_CREDENTIAL_KEY = "aGVhcnRoLWRldi1vbmx5LWNyZWRlbnRpYWwta2V5ISE="


class Settings(ServiceSettings):
    """Access-control settings; tests shrink the intervals."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_ACCESS_", extra="ignore")

    service_name: str = "access-control"
    db_schema: str = "access"
    port: int = 8104
    database_url: str = "postgresql://hearth_access:hearth_access@127.0.0.1:5432/hearth"
    # Fernet keys (JSON list) sealing vendor tokens at rest: the first seals, all unseal (rotation).
    credential_keys: list[str] = Field(default_factory=lambda: [DEV_CREDENTIAL_KEY])
    # Lock vendor calls
    vendor_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    vendor_attempts: int = Field(default=4, ge=1, le=10)
    vendor_backoff_seconds: float = Field(default=0.2, ge=0)
    vendor_token_refresh_margin_seconds: float = Field(default=300.0, ge=0)
    # Code programming calls in flight at once per vendor (different listings; one listing stays in order)
    vendor_concurrency: int = Field(default=8, ge=1, le=64)
    # Registering a vendor imports its locks at once, but answers after this long at most (the timer goes on)
    register_import_seconds: float = Field(default=8.0, gt=0)
    # Vendor URLs on loopback/private addresses (the local simulator); prod refuses them by default
    allow_private_vendor_urls: bool | None = None
    # Background work
    status_poll_seconds: float = Field(default=5.0, gt=0)
    import_every_seconds: float = Field(default=300.0, gt=0)
    code_sync_seconds: float = Field(default=2.0, gt=0)
    code_read_back_min_seconds: float = Field(default=1.0, ge=0)
    attempt_sweep_seconds: float = Field(default=1.0, gt=0)
    # Commands
    action_attempt_ttl_seconds: float = Field(default=30.0, gt=0)
    guardrail_per_minute: int = Field(default=15, ge=1)  # per lock and per action (lock, unlock)
    long_poll_max_seconds: float = Field(default=30.0, gt=0)
    # Codes
    code_sync_max_attempts: int = Field(default=6, ge=1)
    code_retry_base_seconds: float = Field(default=5.0, ge=0)
    code_retry_cap_seconds: float = Field(default=300.0, gt=0)
    code_rule_no_all_same_digits: bool = True
    code_rule_no_simple_runs: bool = True
    code_rule_min_unique_digits: int = Field(default=2, ge=1, le=8)
    generated_code_length: int = Field(default=6, ge=4, le=8)
    default_max_codes_per_lock: int = Field(default=20, ge=1)
    # Lock facts
    offline_after_minutes: int = Field(default=30, ge=1)
    battery_low_pct: int = Field(default=20, ge=1, le=100)
    # How long an id from property.events not yet projected is waited for before a 422
    projection_wait_seconds: float = Field(default=2.0, ge=0)

    @model_validator(mode="after")
    def _credential_keys(self) -> Settings:
        if not self.credential_keys:
            raise ValueError("HEARTH_ACCESS_CREDENTIAL_KEYS needs at least one Fernet key")
        for key in self.credential_keys:
            try:
                Fernet(key)
            except ValueError as exc:
                raise ValueError("HEARTH_ACCESS_CREDENTIAL_KEYS must hold Fernet keys "
                                 "(32 url-safe base64-encoded bytes)") from exc
        if self.environment == "prod" and DEV_CREDENTIAL_KEY in self.credential_keys:
            raise ValueError("prod refuses the dev credential key: set HEARTH_ACCESS_CREDENTIAL_KEYS")
        return self
