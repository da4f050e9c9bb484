"""asyncpg pool, per-transaction org scoping for row-level security, and per-service role provisioning."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg

from hearth_kit.logging import get_logger

Connection = asyncpg.Connection
Record = asyncpg.Record
log = get_logger(__name__)

# RLS policies (kit SQL `enable_org_rls`) compare org_id with this setting; `SYSTEM_SETTING` lets
# deliberate cross-org jobs through.
ORG_SETTING = "hearth.org_id"
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_\-]{0,100}")
SYSTEM_SETTING = "hearth.system"
# A request waits at most this long for a pooled connection, or for a new one to connect, then gets a
# 503 with Retry-After (kit problem handlers) instead of hanging while Postgres is down or saturated.
ACQUIRE_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 10.0


async def init_connection(conn: asyncpg.Connection) -> None:
    """JSON columns in and out as Python objects."""
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _transaction_state_only(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's default reset query (`SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`), which costs a round trip on every checkout.

    Safe because pooled connections only ever carry transaction-scoped state: the org is set with
    `set_config(..., true)`, advisory locks are `_xact_` locks, and LISTEN and session-level locks use
    dedicated connections (the outbox relay, migrations). asyncpg still rolls back a transaction left
    open before calling this. Rule for new code: never `SET` (without LOCAL) or LISTEN on a pooled connection.
    """


async def create_pool(dsn: str, *, schema: str, min_size: int = 2, max_size: int = 10,
                      session_settings: dict[str, str] | None = None) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (and pg_catalog) on their search path, with
    `session_settings` (planner settings a service wants) on every connection."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init_connection,
        reset=_transaction_state_only,
        timeout=CONNECT_TIMEOUT_SECONDS,
        server_settings={**(session_settings or {}), "search_path": schema, "application_name": f"hearth-{schema}"},
    )
    assert pool is not None
    return pool


class Database:
    """The service's handle on its schema: every unit of work is one transaction scoped to one org."""

    def __init__(self, pool: asyncpg.Pool, *, schema: str, dsn: str) -> None:
        self.pool = pool
        self.schema = schema
        self.dsn = dsn  # for dedicated connections outside the pool (LISTEN)

    @classmethod
    async def connect(cls, dsn: str, *, schema: str, min_size: int = 2, max_size: int = 10,
                      session_settings: dict[str, str] | None = None) -> Database:
        """Open a pool on the service's schema."""
        pool = await create_pool(dsn, schema=schema, min_size=min_size, max_size=max_size,
                                 session_settings=session_settings)
        return cls(pool, schema=schema, dsn=dsn)

    @asynccontextmanager
    async def transaction(self, *, org_id: str | None) -> AsyncIterator[asyncpg.Connection]:
        """One transaction; RLS sees only `org_id`'s rows. `org_id=None` sees no org rows at all."""
        async with self._unit(ORG_SETTING, org_id or "") as conn:
            yield conn

    @asynccontextmanager
    async def system_transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction that crosses orgs, for scheduled jobs only (never from a request)."""
        async with self._unit(SYSTEM_SETTING, "on") as conn:
            yield conn

    @asynccontextmanager
    async def _unit(self, setting: str, value: str) -> AsyncIterator[asyncpg.Connection]:
        """BEGIN and the transaction-local setting in one round trip (a simple query of two statements),
        then COMMIT, or ROLLBACK on an error.

        asyncpg's `conn.transaction()` would spend a round trip on BEGIN alone, a quarter of a simple read.
        Only a plain value (ids are `org_<ulid>`) is inlined; any other (an org id from someone else's
        event, say) goes as a bound parameter in a second round trip, so nothing is ever spliced into SQL.
        A nested `conn.transaction()` inside fails loudly (asyncpg refuses it in a manually started
        transaction) instead of committing early.
        """
        plain = _PLAIN_VALUE.fullmatch(value) is not None
        async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS) as conn:
            await conn.execute(f"BEGIN; SELECT set_config('{setting}', '{value}', true)" if plain else "BEGIN")
            try:
                if not plain:
                    await conn.execute("SELECT set_config($1, $2, true)", setting, value)
                yield cast(asyncpg.Connection, conn)
            except BaseException:
                if not conn.is_closed():
                    await conn.execute("ROLLBACK")  # (cancelled mid-way: the pool's release rolls back)
                raise
            await conn.execute("COMMIT")

    async def ping(self) -> bool:
        """True when the database answers."""
        try:
            async with self.pool.acquire(timeout=2) as conn:
                return bool(await conn.fetchval("SELECT 1", timeout=2))
        except Exception:
            return False

    async def close(self, *, grace_seconds: float = 10) -> None:
        """Close the pool; connections still checked out after `grace_seconds` are cut (asyncpg's close
        otherwise waits for them forever, e.g. for a job's LISTEN connection or a cancelled query)."""
        try:
            await asyncio.wait_for(self.pool.close(), grace_seconds)
        except TimeoutError:
            log.warning("database pool did not close in time; terminating it", seconds=grace_seconds)
            self.pool.terminate()


async def provision_service_database(
    admin_dsn: str, *, schema: str, role: str, password: str
) -> None:
    """Create the service's login role and the schema it owns; the role can touch nothing else.

    Idempotent, and safe when two replicas run it at once (guarded by an advisory lock).
    """
    conn: asyncpg.Connection = await asyncpg.connect(admin_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('hearth-provision'))")
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            pw = password.replace("'", "''")
            if exists:
                await conn.execute(f"ALTER ROLE \"{role}\" WITH LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{pw}'")
            else:
                await conn.execute(f"CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{pw}'")
            db = await conn.fetchval("SELECT current_database()")
            await conn.execute(f'GRANT CONNECT ON DATABASE "{db}" TO "{role}"')
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}"')
            # Nobody gets to create objects in `public`: each service lives in its own schema only.
            await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    finally:
        await conn.close()


def role_dsn(admin_dsn: str, *, role: str, password: str) -> str:
    """The admin DSN with the service role's credentials swapped in."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin_dsn)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{role}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def fetch_many(conn: asyncpg.Connection, sql: str, *args: Any) -> list[asyncpg.Record]:
    """`conn.fetch` with a precise return type."""
    return list(await conn.fetch(sql, *args))
