"""Billing service settings (env prefix HEARTH_BILLING_, falling back to HEARTH_)."""

from __future__ import annotations

from hearth_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    """Billing service settings."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_BILLING_", extra="ignore")

    service_name: str = "billing"
    db_schema: str = "billing"
    port: int = 8106
    database_url: str = "postgresql://hearth_billing:hearth_billing@127.0.0.1:5432/hearth"
    # how often the rent and late-fee jobs look for postings whose day has come
    posting_interval_seconds: float = 60.0
    # leases per transaction in the rent run
    posting_batch: int = 1000
    # how long a request waits for a lease not yet projected from property.events before a 422
    projection_wait_seconds: float = 2.0
