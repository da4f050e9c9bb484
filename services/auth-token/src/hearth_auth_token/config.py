"""Auth-token service settings (env prefix HEARTH_AUTH_, falling back to HEARTH_)."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from hearth_contracts.auth import PLAN_LIMITS, parse_plan_limits
from hearth_kit.settings import ServiceSettings
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict


class SigningKeyConfig(BaseModel):
    """One configured Ed25519 private key (PKCS8 PEM) and its key id."""

    model_config = ConfigDict(extra="forbid")

    kid: str = Field(min_length=1, max_length=100)
    pem: str = Field(min_length=1)


class Settings(ServiceSettings):
    """Auth-token service settings."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_AUTH_", extra="ignore")

    service_name: str = "auth-token"
    db_schema: str = "auth"
    port: int = 8101
    database_url: str = "postgresql://hearth_auth:hearth_auth@127.0.0.1:5432/hearth"

    # The operator key (also given to the gateway, which recognises it itself). Here it only lets the
    # internal by-hash lookup answer for it too; empty = no operator key.
    admin_key: str = ""
    # requests per hour per plan; null = unlimited. Partial JSON overrides merge over the defaults.
    plan_limits: dict[str, int | None] = Field(default_factory=lambda: dict(PLAN_LIMITS))

    # Temporary tokens (the result of POST /v1/auth/token)
    temp_token_ttl_seconds: int = Field(default=86_400, ge=1, le=7 * 86_400)
    temp_token_issuer: str = "hearth-auth"
    temp_token_audience: str = "hearth-api"
    # Private signing keys as JSON [{"kid": ..., "pem": ...}]: the first signs, all are published.
    # Empty: keys live in the `signing_keys` table (generated on first start, rotated by the API).
    signing_keys: list[SigningKeyConfig] = Field(default_factory=list)
    # How often a replica re-reads the signing keys table (rotations made by another replica).
    signing_keys_refresh_seconds: float = Field(default=5.0, gt=0)
    # Fernet keys (JSON list) that encrypt the table's private keys at rest: the first encrypts, all decrypt,
    # so a new one is added in front and the old one dropped once the keys were re-sealed (rotation).
    # Empty: stored as plain PEM (dev only; prod refuses it when keys live in the table).
    key_encryption_keys: list[str] = Field(default_factory=list)

    @field_validator("plan_limits", mode="before")
    @classmethod
    def _limits(cls, value: Any) -> dict[str, int | None]:
        return parse_plan_limits(value)

    @model_validator(mode="after")
    def _auth_secrets(self) -> Settings:
        if self.environment == "prod" and self.admin_key and len(self.admin_key) < 24:
            raise ValueError("HEARTH_AUTH_ADMIN_KEY is too short for prod")
        kids = [k.kid for k in self.signing_keys]
        if len(set(kids)) != len(kids):
            raise ValueError("HEARTH_AUTH_SIGNING_KEYS has duplicate kids")
        for kek in self.key_encryption_keys:
            try:
                Fernet(kek)
            except ValueError as exc:
                raise ValueError("HEARTH_AUTH_KEY_ENCRYPTION_KEYS must hold Fernet keys "
                                 "(32 url-safe base64-encoded bytes)") from exc
        if self.environment == "prod" and not self.signing_keys and not self.key_encryption_keys:
            raise ValueError("prod keeps signing keys encrypted: set HEARTH_AUTH_KEY_ENCRYPTION_KEYS "
                             "(or configure HEARTH_AUTH_SIGNING_KEYS)")
        return self
