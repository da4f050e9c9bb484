"""Builds a service from its parts: settings → pool, migrations, relay, consumers, routes, lifespan.

`main.py` of each service calls `create_service(...)` with its own routers and consumer wiring, so the
start-up order, health checks and shutdown are written once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from faststream.kafka import KafkaBroker
from hearth_contracts.topics import ALL_TOPICS, Topic

from hearth_kit.auth import InternalTokenVerifier
from hearth_kit.db import Database, provision_service_database
from hearth_kit.http import create_http_app
from hearth_kit.logging import configure_logging, get_logger
from hearth_kit.messaging import DeadLetters, ensure_topics, new_broker
from hearth_kit.migrate import folder_migrations, kit_migrations, migrate
from hearth_kit.outbox import OutboxRelay
from hearth_kit.settings import ServiceSettings

log = get_logger(__name__)


@dataclass
class Runtime:
    """What a running service holds; routes reach it through `Deps`."""

    settings: ServiceSettings
    db: Database
    relay: OutboxRelay
    broker: KafkaBroker | None = None
    dead_letters: DeadLetters | None = None  # for `idempotent_consumer(dead_letters=...)`
    consumers_ready: bool = True
    extras: dict[str, Any] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


ConsumerWiring = Callable[[KafkaBroker, Runtime], None]
BackgroundJob = Callable[[Runtime], Awaitable[None]]
# Something a service holds open while it runs (e.g. an HTTP client session), given the runtime.
Resource = Callable[[Runtime], AbstractAsyncContextManager[None]]


async def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


Deps = Annotated[Runtime, Depends(_runtime)]


async def _start_broker_when_kafka_is_up(runtime: Runtime) -> None:
    """Consumers start as soon as Kafka answers; the HTTP side serves meanwhile."""
    assert runtime.broker is not None
    delay = 0.5
    while True:
        try:
            await runtime.broker.start()
            runtime.consumers_ready = True
            return
        except Exception as exc:
            log.warning("kafka consumers not started yet; retrying", error=repr(exc))
            with contextlib.suppress(Exception):
                await runtime.broker.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)


async def _supervised(job: BackgroundJob, runtime: Runtime, name: str) -> None:
    """Keep a background job alive: log and restart it if it fails."""
    while True:
        try:
            await job(runtime)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background job failed; restarting", job=name)
            await asyncio.sleep(1)


def create_service(
    *,
    settings: ServiceSettings,
    migrations_dir: Path,
    routers: Sequence[APIRouter],
    consumers: ConsumerWiring | None = None,
    jobs: Sequence[BackgroundJob] = (),
    topics: Sequence[Topic] = ALL_TOPICS,
    admin_database_url: str | None = None,
    resources: Sequence[Resource] = (),
    openapi: bool = True,
) -> FastAPI:
    """The service's FastAPI app, with everything started and stopped in its lifespan."""
    # Images ship migrations beside the venv, not next to the source (see deploy/docker/Dockerfile).
    migrations_dir = Path(os.environ.get("HEARTH_MIGRATIONS_DIR", str(migrations_dir)))
    configure_logging(service=settings.service_name, level=settings.log_level)
    verifier = InternalTokenVerifier(
        settings.internal_jwks, issuer=settings.internal_issuer, audience=settings.internal_audience
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if admin_database_url:
            password = urlsplit(settings.database_url).password or ""
            await provision_service_database(
                admin_database_url, schema=settings.db_schema,
                role=urlsplit(settings.database_url).username or "", password=password,
            )
        await migrate(settings.database_url, schema=settings.db_schema,
                      migrations=kit_migrations() + folder_migrations(migrations_dir))
        db = await Database.connect(settings.database_url, schema=settings.db_schema,
                                    min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        relay = OutboxRelay(db, bootstrap=settings.kafka_bootstrap, poll_seconds=settings.outbox_poll_seconds,
                            batch_size=settings.outbox_batch_size)
        runtime = Runtime(settings=settings, db=db, relay=relay)
        app.state.runtime = runtime
        try:
            await asyncio.wait_for(ensure_topics(settings.kafka_bootstrap, topics), timeout=15)
        except Exception as exc:  # Kafka down at start: HTTP still serves, the outbox holds events
            log.warning("could not ensure topics", error=repr(exc))
        await relay.start()
        if consumers is not None:
            runtime.broker = new_broker(settings.kafka_bootstrap, client_id=f"hearth-{settings.service_name}")
            runtime.dead_letters = DeadLetters(settings.kafka_bootstrap, client_id=f"hearth-{settings.service_name}",
                                               max_attempts=settings.consumer_max_attempts)
            runtime.consumers_ready = False
            consumers(runtime.broker, runtime)
            runtime.tasks.append(asyncio.create_task(_start_broker_when_kafka_is_up(runtime)))
        for job in jobs:
            name = getattr(job, "__name__", "job")
            runtime.tasks.append(asyncio.create_task(_supervised(job, runtime, name), name=name))
        log.info("service started", port=settings.port)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for resource in resources:
                    await stack.enter_async_context(resource(runtime))
                yield
        finally:
            for task in runtime.tasks:
                task.cancel()
            for task in runtime.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if runtime.broker is not None:
                with contextlib.suppress(Exception):
                    await runtime.broker.stop()
            if runtime.dead_letters is not None:
                with contextlib.suppress(Exception):
                    await runtime.dead_letters.stop()
            await relay.stop()
            await db.close()

    async def db_ready() -> bool:
        runtime: Runtime | None = getattr(app.state, "runtime", None)
        return runtime is not None and await runtime.db.ping()

    async def kafka_ready() -> bool:
        runtime: Runtime | None = getattr(app.state, "runtime", None)
        return runtime is not None and runtime.relay.kafka_ok and runtime.consumers_ready

    app = create_http_app(
        service=settings.service_name, max_body_bytes=settings.max_body_bytes,
        readiness={"database": db_ready, "kafka": kafka_ready}, lifespan=lifespan, openapi=openapi,
    )
    app.state.verifier = verifier
    for router in routers:
        app.include_router(router)
    return app


def serve(app: Any, settings: ServiceSettings) -> None:
    """Run under uvicorn (uvloop when installed) with the kit's edge limits: head size and count (431), head
    and body deadlines (408), open-connection cap (503); see `hearth_kit.server`."""
    import uvicorn

    from hearth_kit.server import server_config

    uvicorn.Server(server_config(app, host=settings.host, port=settings.port)).run()
