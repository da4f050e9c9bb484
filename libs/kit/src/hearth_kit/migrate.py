"""Ordered SQL migrations per schema: kit tables first, then the service's own files.

Each file runs once, in its own transaction, recorded in `<schema>.schema_migrations` with a checksum.
A session advisory lock makes two replicas starting at once take turns instead of racing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

from hearth_kit.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Migration:
    """One SQL file, named `<source>/<file>` in the ledger."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """An applied migration was edited, or a file failed."""


def kit_migrations() -> list[Migration]:
    """The outbox/inbox/idempotency tables every service schema has."""
    folder = resources.files("hearth_kit") / "sql"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [Migration(f"kit/{f.name}", f.read_text()) for f in files]


def folder_migrations(folder: Path) -> list[Migration]:
    """The service's own `migrations/NNNN_name.sql` files, in name order."""
    return [Migration(f"service/{p.name}", p.read_text()) for p in sorted(folder.glob("*.sql"))]


async def migrate(dsn: str, *, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply what is not yet applied; returns the names applied now."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"hearth-migrate:{schema}")
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
            for m in migrations:
                if m.name in done:
                    if done[m.name] != m.checksum:
                        raise MigrationError(f"{schema}: applied migration {m.name} was edited; add a new file")
                    continue
                async with conn.transaction():
                    try:
                        await conn.execute(m.sql)
                    except asyncpg.PostgresError as exc:
                        raise MigrationError(f"{schema}: {m.name} failed: {exc}") from exc
                    await conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", m.name, m.checksum
                    )
                applied_now.append(m.name)
                log.info("migration applied", schema=schema, migration=m.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"hearth-migrate:{schema}")
    finally:
        await conn.close()
    return applied_now
