"""Typed settings: one class per service with its own env prefix, falling back to platform-wide HEARTH_*."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "hearth", "dev"})


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclass with `model_config = SettingsConfigDict(env_prefix=...)`.

    A field is read from `<PREFIX><FIELD>` first, then from the shared `HEARTH_<FIELD>` (so one
    `HEARTH_KAFKA_BOOTSTRAP` serves every service while each has its own database role).
    """

    model_config = SettingsConfigDict(env_prefix="HEARTH_SERVICE_", extra="ignore")

    service_name: str = "service"
    environment: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "postgresql://hearth:hearth@127.0.0.1:5432/hearth"
    db_schema: str = "public"
    db_pool_min: int = 2
    db_pool_max: int = 10
    kafka_bootstrap: str = "127.0.0.1:9092"
    # JSON Web Key Set for verifying the gateway's internal JWT: inline JSON or an http(s) URL.
    internal_jwks: str = ""
    internal_audience: str = "hearth-internal"
    internal_issuer: str = "hearth-gateway"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    outbox_poll_seconds: float = 0.5
    outbox_batch_size: int = 1000
    # A consumed event whose handler keeps failing is retried this many times, then parked on <topic>.dlt.
    consumer_max_attempts: int = 5

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = EnvSettingsSource(settings_cls, env_prefix="HEARTH_")
        return (init_settings, env_settings, shared, dotenv_settings, file_secret_settings)

    @model_validator(mode="after")
    def _refuse_placeholders_in_prod(self) -> ServiceSettings:
        if self.environment == "prod":
            if ":hearth@" in self.database_url:
                raise ValueError("database_url uses the dev password outside dev")
            if not self.internal_jwks:
                raise ValueError("internal_jwks must be set in prod")
        return self
