"""GET /v1/sensors/stream (WebSocket): the org's readings as they arrive, filtered, with heartbeats.

Messages are JSON text frames: `{"type": "subscribed", "filters": {...}}` once positioned, then
`{"type": "readings", "accepted_at", "data": [{"sensor_id", "ts", "value"}, ...]}` and
`{"type": "heartbeat", "ts"}` every `stream_heartbeat_seconds`. A client too slow to keep up is closed
with code 4008.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from hearth_kit.auth import INTERNAL_TOKEN_HEADER, InternalTokenVerifier, Principal
from hearth_kit.problems import Problem, problem_response

from hearth_telemetry.config import Settings
from hearth_telemetry.domain import KINDS
from hearth_telemetry.models import BUILDING_ID, SENSOR_ID
from hearth_telemetry.runtime import TelemetryRuntime
from hearth_telemetry.stream import SLOW_CLIENT_CLOSE, Subscriber, heartbeat

router = APIRouter()

_PATTERNS = {"sensor_id": SENSOR_ID, "building_id": BUILDING_ID}


async def _principal(ws: WebSocket) -> Principal:
    verifier: InternalTokenVerifier = ws.app.state.verifier
    token = ws.headers.get(INTERNAL_TOKEN_HEADER)
    if not token:
        raise Problem(401, "missing internal token (call through the gateway)", slug="unauthorized")
    return await verifier.verify_async(token)


def _filters(ws: WebSocket) -> dict[str, str]:
    import re

    out: dict[str, str] = {}
    for name in ("sensor_id", "building_id", "kind"):
        value = ws.query_params.get(name)
        if value is None:
            continue
        ok = value in KINDS if name == "kind" else re.fullmatch(_PATTERNS[name], value) is not None
        if not ok:
            raise Problem(422, f"invalid {name}", slug="validation-error",
                          errors=[{"field": name, "message": "invalid value", "code": "invalid"}])
        out[name] = value
    return out


@router.websocket("/v1/sensors/stream")
async def sensor_stream(ws: WebSocket) -> None:
    """Live readings of the caller's org (filters: sensor_id, building_id, kind)."""
    try:
        principal = await _principal(ws)
        filters = _filters(ws)
    except Problem as exc:
        await ws.send_denial_response(problem_response(None, status=exc.status, detail=exc.detail, slug=exc.slug,
                                                       errors=exc.errors))
        return
    runtime: TelemetryRuntime = ws.app.state.runtime
    settings = runtime.settings
    hub = runtime.state.stream_hub
    assert hub is not None, "the stream hub resource is not running"
    sub = Subscriber(org_id=principal.org_id, sensor_id=filters.get("sensor_id"),
                     building_id=filters.get("building_id"), kind=filters.get("kind"))
    await ws.accept()
    try:
        await hub.subscribe(sub)
        await ws.send_text(orjson.dumps({"type": "subscribed", "filters": filters}).decode())
        await _pump(ws, sub, settings)
    except (WebSocketDisconnect, ConnectionError):
        pass
    finally:
        hub.unsubscribe(sub)


async def _pump(ws: WebSocket, sub: Subscriber, settings: Settings) -> None:
    """Send queued messages and heartbeats until the client leaves or falls too far behind.

    Every wait (for a message, and for a send to drain) races the client leaving and the hub marking the
    client too slow, so a client that stopped reading cannot hold this task in a blocked send.
    """

    async def watch_client() -> None:  # notice a close from the client while we wait for readings
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return

    watcher = asyncio.create_task(watch_client())
    slow = asyncio.create_task(sub.too_slow.wait())

    async def race(task: asyncio.Task[Any], timeout: float | None = None) -> str:
        """"done" when `task` finished first, "stop" when the client left or is too slow, else "timeout"."""
        done, _ = await asyncio.wait({task, watcher, slow}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return "done"
        task.cancel()
        return "stop" if done else "timeout"

    try:
        while True:
            getter = asyncio.create_task(sub.queue.get())
            outcome = await race(getter, timeout=settings.stream_heartbeat_seconds)
            if outcome == "stop":
                break
            text = getter.result().decode() if outcome == "done" else heartbeat().decode()
            if await race(asyncio.create_task(ws.send_text(text))) == "stop":
                break
        if watcher.done():
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=SLOW_CLIENT_CLOSE, reason="client too slow: fell behind the stream"),
                                   timeout=5)
    finally:
        for task in (watcher, slow):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
