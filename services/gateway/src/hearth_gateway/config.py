"""Gateway settings (env prefix HEARTH_GATEWAY_, falling back to HEARTH_).

Routes are not configured here: they come from the platform file (see `routing.py`). Plans and their limits
come from `hearth_contracts.auth` (overridable with `HEARTH_PLAN_LIMITS`, read by auth-token too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hearth_contracts.auth import PLAN_LIMITS, parse_plan_limits
from hearth_kit.settings import ServiceSettings
from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from hearth_gateway.routing import RouteTable, default_platform_file, load_route_table


class Settings(ServiceSettings):
    """Gateway settings."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    db_schema: str = "gateway"
    port: int = 8080
    database_url: str = "postgresql://hearth_gateway:hearth_gateway@127.0.0.1:5432/hearth"

    # Where the route table comes from, and where each routed service lives.
    platform_file: str = ""  # default: deploy/platform.toml of this checkout (/app/platform.toml in the image)
    upstream_url_template: str = "http://127.0.0.1:{port}"  # `{service}` and `{port}` from the platform file
    upstreams: dict[str, str] = Field(default_factory=dict)  # service name → base URL (overrides the template)
    auth_service: str = "auth-token"  # the routed service that answers key lookups and publishes the JWKS

    auth_token_issuer: str = "hearth-auth"
    auth_token_audience: str = "hearth-api"
    jwks_min_refetch_seconds: float = 10.0

    admin_key: str = ""  # operator key: org_platform, role admin, scope platform:admin, unlimited
    metrics_token: str = ""  # bearer token for /metrics (besides the operator key); empty: operator key only
    signing_key_pem: str = ""  # Ed25519 PKCS8 PEM for the internal JWT; generated in dev/test when empty
    signing_kid: str = "gateway-1"
    internal_token_ttl_seconds: int = 60

    # How long a key's identity (and revocation state) is trusted without asking auth-token again. Revocation
    # events make it immediate; this bound is what holds when events are missed (restart, Kafka down).
    identity_ttl_seconds: float = 5.0
    negative_ttl_seconds: float = 2.0  # unknown keys: short, so floods do not reach auth-token
    auth_lookup_timeout_seconds: float = 3.0

    plan_limits: dict[str, int | None] = Field(default_factory=lambda: dict(PLAN_LIMITS))
    rate_window_seconds: int = 3600

    upstream_timeout_seconds: float = 10.0
    upstream_pool_size: int = 200
    cors_origins: list[str] = []
    openapi_cache_seconds: float = 30.0

    @field_validator("plan_limits", mode="before")
    @classmethod
    def _limits(cls, value: Any) -> dict[str, int | None]:
        return parse_plan_limits(value)

    @model_validator(mode="after")
    def _gateway_secrets(self) -> Settings:
        if self.environment == "prod":
            if not self.signing_key_pem:
                raise ValueError("HEARTH_GATEWAY_SIGNING_KEY_PEM must be set in prod")
            if self.admin_key and len(self.admin_key) < 24:
                raise ValueError("HEARTH_GATEWAY_ADMIN_KEY is too short for prod")
        return self

    def route_table(self) -> RouteTable:
        path = Path(self.platform_file) if self.platform_file else default_platform_file()
        return load_route_table(path, url_template=self.upstream_url_template, upstreams=self.upstreams)
