"""Gateway settings (env prefix HEARTH_GATEWAY_, falling back to HEARTH_)."""

from __future__ import annotations

from hearth_kit.settings import ServiceSettings
from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

_AUTH = "http://127.0.0.1:8101"
_PROPERTY = "http://127.0.0.1:8102"


class Settings(ServiceSettings):
    """Gateway settings; `routes` is the one place a service is added to the public API."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    db_schema: str = "gateway"
    port: int = 8080
    database_url: str = "postgresql://hearth_gateway:hearth_gateway@127.0.0.1:5432/hearth"

    # path prefix -> upstream base URL; longest prefix wins
    routes: dict[str, str] = {
        "/v1/auth": _AUTH, "/v1/api-keys": _AUTH, "/v1/admin": _AUTH, "/v1/plans": _AUTH, "/v1/orgs": _AUTH,
        "/v1/buildings": _PROPERTY, "/v1/units": _PROPERTY, "/v1/residents": _PROPERTY,
        "/v1/leases": _PROPERTY, "/v1/agents": _PROPERTY,
    }
    # service name -> base URL, for the merged OpenAPI document (each serves /openapi.json)
    services: dict[str, str] = {"auth": _AUTH, "property": _PROPERTY}
    # prefixes whose upstream receives the caller's own credentials (token exchange needs the key)
    credential_passthrough_prefixes: list[str] = ["/v1/auth"]

    auth_url: str = _AUTH
    auth_jwks_url: str = ""  # default: {auth_url}/.well-known/jwks.json
    auth_token_issuer: str = "hearth-auth"
    auth_token_audience: str = "hearth-api"
    jwks_min_refetch_seconds: float = 10.0

    admin_key: str = ""  # operator key: org_platform, role admin, scope platform:admin, unlimited
    signing_key_pem: str = ""  # Ed25519 PKCS8 PEM for the internal JWT; generated in dev/test when empty
    signing_kid: str = "gateway-1"
    internal_token_ttl_seconds: int = 60

    identity_ttl_seconds: float = 60.0  # positive cache entries (revocations arrive by event anyway)
    negative_ttl_seconds: float = 2.0  # unknown keys: short, so floods do not reach auth-token
    auth_lookup_timeout_seconds: float = 3.0

    plan_limits: dict[str, int | None] = {
        "standard": 1000, "professional": 5000, "enterprise": None, "test": 100,
    }
    rate_window_seconds: int = 3600

    upstream_timeout_seconds: float = 10.0
    upstream_pool_size: int = 200
    cors_origins: list[str] = []
    openapi_cache_seconds: float = 30.0

    @model_validator(mode="after")
    def _gateway_secrets(self) -> Settings:
        if self.environment == "prod":
            if not self.signing_key_pem:
                raise ValueError("HEARTH_GATEWAY_SIGNING_KEY_PEM must be set in prod")
            if self.admin_key and len(self.admin_key) < 24:
                raise ValueError("HEARTH_GATEWAY_ADMIN_KEY is too short for prod")
        return self

    @property
    def jwks_url(self) -> str:
        return self.auth_jwks_url or f"{self.auth_url.rstrip('/')}/.well-known/jwks.json"
