"""Every table with an `org_id` column, in every service's schema, has FORCED row-level security.

The services are found on disk (`services/*/migrations`), so a new service is checked the day it adds
its first migration: each one's migrations (after the kit's) are applied to a fresh schema, then the
catalogue is asked which org tables lack RLS, lack FORCE (the owner role would bypass it) or lack a policy.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from hearth_kit.migrate import Migration, folder_migrations, kit_migrations
from hearth_kit.testing import Infra
from hearth_kit.testing.infra import REPO_ROOT
from hearth_kit.testing.schemas import migrated_schema

pytestmark = pytest.mark.integration

SERVICE_MIGRATIONS = sorted(p for p in (REPO_ROOT / "services").glob("*/migrations") if any(p.glob("*.sql")))

_UNPROTECTED = """
SELECT c.relname AS table_name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped)
ORDER BY c.relname
"""


async def unprotected_org_tables(admin_url: str, schema: str) -> list[str]:
    """Org tables of `schema` without enabled + forced RLS and a policy."""
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(_UNPROTECTED, schema)
    finally:
        await conn.close()
    return [f"{r['table_name']} (rls={r['rls']}, forced={r['forced']}, policy={r['has_policy']})"
            for r in rows if not (r["rls"] and r["forced"] and r["has_policy"])]


async def _apply(infra: Infra, folder: Path | None, sql: str = "") -> str:
    migrations = kit_migrations() + (folder_migrations(folder) if folder else [])
    if sql:
        migrations.append(Migration("service/9999_test.sql", sql))
    schema, _ = await migrated_schema(infra, base="rls", migrations=migrations)
    return schema


def test_every_service_with_migrations_is_checked() -> None:
    names = {p.parent.name for p in SERVICE_MIGRATIONS}
    assert {"auth-token", "property"} <= names, names


@pytest.mark.parametrize("folder", SERVICE_MIGRATIONS, ids=[p.parent.name for p in SERVICE_MIGRATIONS])
async def test_every_org_table_has_forced_rls(infra: Infra, folder: Path) -> None:
    schema = await _apply(infra, folder)
    assert await unprotected_org_tables(infra.database_url, schema) == []


async def test_the_check_catches_a_table_without_forced_rls(infra: Infra) -> None:
    schema = await _apply(infra, None, """
        CREATE TABLE careless (id text PRIMARY KEY, org_id text NOT NULL);
        CREATE TABLE half_done (id text PRIMARY KEY, org_id text NOT NULL);
        ALTER TABLE half_done ENABLE ROW LEVEL SECURITY;
        CREATE TABLE careful (id text PRIMARY KEY, org_id text NOT NULL);
        SELECT enable_org_rls('careful');
    """)
    found = await unprotected_org_tables(infra.database_url, schema)
    assert [f.split()[0] for f in found] == ["careless", "half_done"]
