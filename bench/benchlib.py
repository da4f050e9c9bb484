"""Helpers every benchmark shares (run as scripts, so `bench/` is on the import path)."""

from __future__ import annotations

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
