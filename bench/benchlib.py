"""Helpers every benchmark shares (run as scripts, so `bench/` is on the import path)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import asyncpg


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (p in 0..100) by nearest rank; NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


async def drop_bench_schema(database_url: str, schema: str) -> None:
    """Remove a throwaway schema and the role `service_harness` made for it."""
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.execute(f'DROP OWNED BY "hearth_{schema}"')
        await admin.execute(f'DROP ROLE IF EXISTS "hearth_{schema}"')
    finally:
        await admin.close()


async def seed_org(database_url: str, schema: str, org: str, script: str, params: Sequence[Sequence[Any]],
                   *, vacuum: Sequence[str]) -> float:
    """Run a seed script (statements separated by a blank line after `;`) as one org in one transaction,
    then VACUUM ANALYZE the tables as autovacuum would leave them at rest; returns the seconds taken."""
    started = time.perf_counter()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('hearth.org_id', $1, true)", org)
            for statement, values in zip(script.strip().split(";\n\n"), params, strict=True):
                await conn.execute(statement, *values)
        # statistics and the visibility map that index-only scans use
        for table in vacuum:
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    return time.perf_counter() - started
