"""Run a service in-process against the real test Postgres and Kafka, with a token signer."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from hearth_kit.auth import INTERNAL_TOKEN_HEADER, InternalTokenSigner, Principal, SigningKey, jwks
from hearth_kit.db import init_connection, provision_service_database, role_dsn
from hearth_kit.ids import new_id
from hearth_kit.testing.infra import Infra

# One signer per process: services under test trust its JWKS, tests mint tokens with it.
TEST_SIGNER = InternalTokenSigner(SigningKey.generate("test-key-1"))
TEST_JWKS = json.dumps(jwks(TEST_SIGNER.key))


@dataclass
class ServiceHarness:
    """An in-process service and what a test needs to talk to it."""

    app: FastAPI
    client: httpx.AsyncClient
    schema: str
    database_url: str  # the service role's DSN
    admin_url: str

    def headers(self, *, org_id: str, role: str = "admin", subject: str | None = None,
                scopes: frozenset[str] = frozenset(), member_id: str | None = None) -> dict[str, str]:
        """Headers as the gateway would send them for this caller."""
        principal = Principal(org_id=org_id, subject=subject or new_id("key"), role=role, scopes=scopes,
                              member_id=member_id)
        return {INTERNAL_TOKEN_HEADER: TEST_SIGNER.mint(principal)}

    @asynccontextmanager
    async def raw(self, *, org_id: str | None = None) -> AsyncIterator[asyncpg.Connection]:
        """A raw connection as the service role (RLS applies), optionally scoped to an org."""
        conn: asyncpg.Connection = await asyncpg.connect(
            self.database_url, server_settings={"search_path": self.schema})
        await init_connection(conn)
        try:
            async with conn.transaction():
                await conn.execute("SELECT set_config('hearth.org_id', $1, true)", org_id or "")
                yield conn
        finally:
            await conn.close()


def service_env(infra: Infra, *, prefix: str, schema: str) -> tuple[dict[str, str], str]:
    """Env vars that point a service at the test infra with a fresh schema and role."""
    password = secrets.token_hex(12)
    dsn = role_dsn(infra.database_url, role=f"hearth_{schema}", password=password)
    return {
        f"{prefix}DATABASE_URL": dsn,
        f"{prefix}DB_SCHEMA": schema,
        f"{prefix}KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        f"{prefix}INTERNAL_JWKS": TEST_JWKS,
        f"{prefix}ENVIRONMENT": "test",
        f"{prefix}OUTBOX_POLL_SECONDS": "0.2",
    }, password


@asynccontextmanager
async def service_harness(
    infra: Infra,
    *,
    schema: str,
    prefix: str,
    build_app: Callable[[], FastAPI],
    monkeypatch_env: Callable[[str, str], None],
) -> AsyncIterator[ServiceHarness]:
    """Provision `schema` and its role, build the app with env pointing at the infra, run its lifespan."""
    env, password = service_env(infra, prefix=prefix, schema=schema)
    for k, v in env.items():
        monkeypatch_env(k, v)
    await provision_service_database(infra.database_url, schema=schema, role=f"hearth_{schema}", password=password)
    app = build_app()
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield ServiceHarness(app=app, client=client, schema=schema, database_url=env[f"{prefix}DATABASE_URL"],
                                 admin_url=infra.database_url)
