"""Typed settings: one class per service with its own env prefix, falling back to platform-wide HEARTH_*."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "hearth", "dev", "test"})


def is_placeholder_secret(secret: str, *, username: str = "") -> bool:
    """A secret nobody should run prod with: a well-known word, the user name again, or a dev default
    (`hearth`, `hearth_<service>`: the passwords the local stack and docker compose use)."""
    value = secret.strip().lower()
    return (value in PLACEHOLDER_SECRETS or (bool(username) and value == username.lower())
            or value == "hearth" or value.startswith("hearth_"))


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
    # Planner settings for the service's sessions (e.g. {"random_page_cost": "1.1"}), as JSON in the env.
    db_session_settings: dict[str, str] = {}
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
    # Events announce themselves as coming from `event_source` (CloudEvents `source`); default hearth/<name>.
    event_source: str = ""
    # Housekeeping: handled-event ids (inbox) and stored Idempotency-Key answers are kept this long.
    inbox_retention_hours: float = 7 * 24
    idempotency_retention_hours: float = 24
    housekeeping_interval_seconds: float = 3600

    @property
    def source(self) -> str:
        """The CloudEvents `source` of every event this service writes to its outbox."""
        return self.event_source or f"hearth/{self.service_name}"

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
            url = urlsplit(self.database_url)
            if is_placeholder_secret(url.password or "", username=url.username or ""):
                raise ValueError("database_url uses a dev or placeholder password; prod needs a real secret")
            if not self.internal_jwks:
                raise ValueError("internal_jwks must be set in prod")
        return self
