"""Property service settings (env prefix HEARTH_PROPERTY_, falling back to HEARTH_)."""

from __future__ import annotations

from hearth_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    """Property service settings."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_PROPERTY_", extra="ignore")

    service_name: str = "property"
    db_schema: str = "property"
    port: int = 8102
    database_url: str = "postgresql://hearth_property:hearth_property@127.0.0.1:5432/hearth"
    # how often the lease sweep announces leases that started or ended by date
    lease_sweep_seconds: float = 60.0
