"""Maintenance service settings (env prefix HEARTH_MAINTENANCE_, falling back to HEARTH_)."""

from __future__ import annotations

from hearth_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    """Maintenance service settings."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_MAINTENANCE_", extra="ignore")

    service_name: str = "maintenance"
    db_schema: str = "maintenance"
    port: int = 8103
    database_url: str = "postgresql://hearth_maintenance:hearth_maintenance@127.0.0.1:5432/hearth"
    # how long a building/unit/member id missing from the local projections is waited for before a 422
    projection_wait_seconds: float = 2.0
    # how often the overdue job looks for requests whose SLA just passed
    overdue_sweep_seconds: float = 30.0
