"""Builds a service from its parts: settings → pool, migrations, relay, subscriptions, routes, lifespan.

`main.py` of each service calls `create_service(...)` with its settings, routers, subscriptions, jobs
and typed state, so the start-up order, health checks and shutdown are written once:

    app = create_service(settings=Settings(), state=KeyRing(...), migrations_dir=MIGRATIONS,
                         routers=[router], subscriptions=[PAYMENTS], jobs=[sweep])

`Runtime[Settings, State]` is what a running service holds; routes reach it through a dependency
typed for the service (`Annotated[Runtime[Settings, State], Depends(current_runtime)]`), jobs get it
as their argument, so `runtime.settings.<own field>` and `runtime.state` are typed everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from faststream.kafka import KafkaBroker
from hearth_contracts.topics import ALL_TOPICS, Topic
from typing_extensions import TypeVar

from hearth_kit.api import DocumentedRoute, install_openapi
from hearth_kit.auth import InternalTokenVerifier
from hearth_kit.db import Database, provision_service_database
from hearth_kit.housekeeping import housekeeping_job
from hearth_kit.http import create_http_app
from hearth_kit.logging import configure_logging, get_logger
from hearth_kit.messaging import DeadLetters, ensure_topics, new_broker
from hearth_kit.migrate import folder_migrations, kit_migrations, migrate
from hearth_kit.outbox import OutboxRelay
from hearth_kit.settings import ServiceSettings
from hearth_kit.subscriptions import Subscription

log = get_logger(__name__)

SettingsT = TypeVar("SettingsT", bound=ServiceSettings, default=ServiceSettings, covariant=True)
StateT = TypeVar("StateT", default=None, covariant=True)
# create_service's own (invariant) type variables: the settings and state it is given.
S = TypeVar("S", bound=ServiceSettings)
St = TypeVar("St", default=None)


@dataclass
class Runtime(Generic[SettingsT, StateT]):
    """What a running service holds: its typed settings, its database, its relay and its own state."""

    settings: SettingsT
    db: Database
    relay: OutboxRelay
    # The service's own long-lived objects (a key ring, an HTTP client...): one typed place, not app.state.
    state: StateT
    broker: KafkaBroker | None = None
    dead_letters: DeadLetters | None = None  # for `idempotent_consumer(dead_letters=...)`
    consumers_ready: bool = True
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def source(self) -> str:
        """The CloudEvents `source` of this service's events (from its settings)."""
        return self.settings.source


# Deprecated: `subscriptions=[Subscription(...)]` replaces hand-wired consumers.
ConsumerWiring = Callable[[KafkaBroker, Runtime[Any, Any]], None]
BackgroundJob = Callable[[Runtime[Any, Any]], Awaitable[None]]
# Something a service holds open while it runs (e.g. an HTTP client session), given the runtime.
Resource = Callable[[Runtime[Any, Any]], AbstractAsyncContextManager[None]]


async def current_runtime(request: Request) -> Runtime[Any, Any]:
    """FastAPI dependency: the running service's runtime (type it per service with `Annotated`)."""
    runtime: Runtime[Any, Any] = request.app.state.runtime
    return runtime




async def _start_broker_when_kafka_is_up(runtime: Runtime[Any, Any]) -> None:
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


async def _bounded(what: str, step: Awaitable[Any], seconds: float = 10) -> None:
    """One shutdown step, given a deadline: a Kafka client stuck leaving its group must not hold the
    process (or a test's teardown) forever. Whatever it had not finished is redone after the restart."""
    try:
        await asyncio.wait_for(step, seconds)
    except TimeoutError:
        log.warning("shutdown step timed out; moving on", step=what, seconds=seconds)
    except Exception as exc:
        log.warning("shutdown step failed; moving on", step=what, error=repr(exc))


async def _supervised(job: Callable[[Runtime[Any, Any]], Awaitable[None]], runtime: Runtime[Any, Any],
                      name: str) -> None:
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
    settings: S,
    migrations_dir: Path,
    routers: Sequence[APIRouter],
    state: St = None,  # type: ignore[assignment]  # None is StateT's default
    subscriptions: Sequence[Subscription] = (),
    consumers: ConsumerWiring | None = None,
    jobs: Sequence[Callable[[Runtime[S, St]], Awaitable[None]]] = (),
    topics: Sequence[Topic] = ALL_TOPICS,
    admin_database_url: str | None = None,
    resources: Sequence[Callable[[Runtime[S, St]], AbstractAsyncContextManager[None]]] = (),
    openapi: bool = True,
) -> FastAPI:
    """The service's FastAPI app, with everything started and stopped in its lifespan.

    `consumers` (a function wiring the broker by hand) still works but is deprecated: pass
    `subscriptions`. The kit adds the housekeeping job (inbox and Idempotency-Key pruning) itself.
    """
    # Images ship migrations beside the venv, not next to the source (see deploy/docker/Dockerfile).
    migrations_dir = Path(os.environ.get("HEARTH_MIGRATIONS_DIR", str(migrations_dir)))
    configure_logging(service=settings.service_name, level=settings.log_level)
    verifier = InternalTokenVerifier(
        settings.internal_jwks, issuer=settings.internal_issuer, audience=settings.internal_audience
    )
    all_jobs: list[Callable[[Runtime[Any, Any]], Awaitable[None]]] = [*jobs, housekeeping_job]

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
                                    min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                                    session_settings=settings.db_session_settings)
        relay = OutboxRelay(db, bootstrap=settings.kafka_bootstrap, poll_seconds=settings.outbox_poll_seconds,
                            batch_size=settings.outbox_batch_size)
        runtime: Runtime[S, St] = Runtime(settings=settings, db=db, relay=relay, state=state)
        app.state.runtime = runtime
        try:
            await asyncio.wait_for(ensure_topics(settings.kafka_bootstrap, topics), timeout=15)
        except Exception as exc:  # Kafka down at start: HTTP still serves, the outbox holds events
            log.warning("could not ensure topics", error=repr(exc))
        await relay.start()
        if consumers is not None or subscriptions:
            client_id = f"hearth-{settings.service_name}"
            runtime.broker = new_broker(settings.kafka_bootstrap, client_id=client_id)
            runtime.dead_letters = DeadLetters(settings.kafka_bootstrap, client_id=client_id,
                                               max_attempts=settings.consumer_max_attempts)
            runtime.consumers_ready = False
            for subscription in subscriptions:
                subscription.attach(runtime.broker, db=db, source=settings.source,
                                    dead_letters=runtime.dead_letters)
            if consumers is not None:
                consumers(runtime.broker, runtime)
            runtime.tasks.append(asyncio.create_task(_start_broker_when_kafka_is_up(runtime)))
        for job in all_jobs:
            name = getattr(job, "__name__", "job")
            runtime.tasks.append(asyncio.create_task(_supervised(job, runtime, name), name=name))
        if openapi:  # built now, not on the first request: the gateway fetches it with a short timeout
            app.openapi()
        log.info("service started", port=settings.port)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for resource in resources:
                    await stack.enter_async_context(resource(runtime))
                # Everything made so far (modules, models, routes, clients) lives as long as the process: out
                # of the cyclic collector's sight, a full collection no longer walks it. Walking it paused the
                # telemetry writer's event loop 125-150 ms every ~3 s under load (the tail of accepted →
                # queryable); the gateway froze its own start-up the same way before the kit did.
                gc.freeze()
                yield
        finally:
            for task in runtime.tasks:
                task.cancel()
            for task in runtime.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if runtime.broker is not None:
                await _bounded("consumers", runtime.broker.stop())
            if runtime.dead_letters is not None:
                await _bounded("dead-letter producer", runtime.dead_letters.stop())
            await _bounded("outbox relay", relay.stop())
            await db.close()

    async def db_ready() -> bool:
        runtime: Runtime[Any, Any] | None = getattr(app.state, "runtime", None)
        return runtime is not None and await runtime.db.ping()

    async def kafka_ready() -> bool:
        runtime: Runtime[Any, Any] | None = getattr(app.state, "runtime", None)
        return runtime is not None and runtime.relay.kafka_ok and runtime.consumers_ready

    app = create_http_app(
        service=settings.service_name, max_body_bytes=settings.max_body_bytes,
        readiness={"database": db_ready, "kafka": kafka_ready}, lifespan=lifespan, openapi=openapi,
    )
    app.state.verifier = verifier
    for router in routers:
        _require_documented(router)
        app.include_router(router)
    if openapi:
        install_openapi(app)
    return app


def _require_documented(router: APIRouter) -> None:
    """Every documented route of a service comes from `api_router`: typed responses, documented problems."""
    plain = [route.path for route in router.routes
             if isinstance(route, APIRoute) and route.include_in_schema and not isinstance(route, DocumentedRoute)]
    if plain:
        raise TypeError(f"routes not built with hearth_kit.api.api_router: {', '.join(plain)}")


def serve(app: Any, settings: ServiceSettings) -> None:
    """Run under uvicorn (uvloop when installed) with the kit's edge limits: head size and count (431), head
    and body deadlines (408), open-connection cap (503); see `hearth_kit.server`."""
    import uvicorn

    from hearth_kit.server import server_config

    uvicorn.Server(server_config(app, host=settings.host, port=settings.port)).run()
