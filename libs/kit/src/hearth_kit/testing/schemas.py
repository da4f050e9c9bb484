"""A fresh, migrated service schema for tests that need the kit's tables without a whole service."""

from __future__ import annotations

import secrets

from hearth_kit.db import provision_service_database, role_dsn
from hearth_kit.migrate import Migration, migrate
from hearth_kit.testing.infra import Infra
from hearth_kit.testing.plugin import unique_schema


async def migrated_schema(infra: Infra, *, base: str, migrations: list[Migration]) -> tuple[str, str]:
    """Provision a new schema and its own role, apply `migrations`; returns (schema, the role's DSN)."""
    schema = unique_schema(base)
    password = secrets.token_hex(8)
    await provision_service_database(infra.database_url, schema=schema, role=f"hearth_{schema}", password=password)
    dsn = role_dsn(infra.database_url, role=f"hearth_{schema}", password=password)
    await migrate(dsn, schema=schema, migrations=migrations)
    return schema, dsn
