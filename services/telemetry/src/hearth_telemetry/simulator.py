"""Device simulator for the demo: feeds the demo org's sensors through the gateway, with a leak now and then.

Started by `make up` before the services (`[simulators.device]` in deploy/platform.toml). It answers
`GET /healthz` at once, waits for `<RUN_DIR>/demo.json` (gateway URL and demo API key), then every
`INTERVAL_SECONDS` posts one reading per demo sensor; every `LEAK_EVERY_SECONDS` one water-leak
sensor reports a leak for `LEAK_SECONDS`, which raises (and then clears) the default leak alert.
Env (prefix HEARTH_DEVICE_SIM_): PORT, RUN_DIR, INTERVAL_SECONDS, LEAK_EVERY_SECONDS, LEAK_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PREFIX = "HEARTH_DEVICE_SIM_"
STATE: dict[str, Any] = {"sent": 0, "sensors": 0, "leaking": None, "connected": False}


def env(name: str, default: str) -> str:
    return os.environ.get(PREFIX + name, default)


def value_for(kind: str, sensor_id: str, now: float, leaking: str | None) -> float:
    """A plausible, slowly varying value for each kind."""
    phase = (hash(sensor_id) % 1000) / 1000 * 2 * math.pi
    wave = math.sin(now / 300 + phase)
    if kind == "temperature":
        return round(21 + 1.5 * wave + random.uniform(-0.1, 0.1), 2)
    if kind == "humidity":
        return round(45 + 8 * wave + random.uniform(-0.5, 0.5), 1)
    if kind == "co2":
        return round(650 + 200 * wave + random.uniform(-10, 10))
    if kind == "energy":
        return round(now / 3600 % 10_000, 3)
    if kind == "occupancy":
        return float(max(0, round(3 + 3 * wave)))
    if kind == "water_leak":
        return 1.0 if sensor_id == leaking else 0.0
    return 0.0


def demo_doc(run_dir: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((run_dir / "demo.json").read_text())
    except (OSError, ValueError):
        return None
    return doc if doc.get("api_key") and doc.get("gateway_url") else None


async def feed(run_dir: Path) -> None:
    interval = float(env("INTERVAL_SECONDS", "2"))
    leak_every = float(env("LEAK_EVERY_SECONDS", "120"))
    leak_for = float(env("LEAK_SECONDS", "20"))
    sensors: list[dict[str, Any]] = []
    listed_at = 0.0
    next_leak = time.time() + min(30.0, leak_every)
    leak_until = 0.0
    while True:
        doc = demo_doc(run_dir)
        if doc is None:
            await asyncio.sleep(1)
            continue
        headers = {"Authorization": f"Bearer {doc['api_key']}"}
        try:
            async with httpx.AsyncClient(base_url=doc["gateway_url"], headers=headers, timeout=10) as client:
                while demo_doc(run_dir) == doc:
                    now = time.time()
                    if now - listed_at > 30:
                        resp = await client.get("/v1/sensors", params={"status": "active", "limit": 100})
                        resp.raise_for_status()
                        sensors, listed_at = resp.json()["data"], now
                        STATE.update(sensors=len(sensors), connected=True)
                    leaks = [s["id"] for s in sensors if s["kind"] == "water_leak"]
                    if leaks and now >= next_leak:
                        STATE["leaking"], leak_until, next_leak = random.choice(leaks), now + leak_for, now + leak_every
                    if STATE["leaking"] and now >= leak_until:
                        STATE["leaking"] = None
                    stamp = datetime.now(UTC).isoformat()
                    batch = [{"sensor_id": s["id"], "ts": stamp, "value": value_for(s["kind"], s["id"], now,
                                                                                      STATE["leaking"])}
                             for s in sensors]
                    if batch:
                        (await client.post("/v1/readings", json={"readings": batch})).raise_for_status()
                        STATE["sent"] += len(batch)
                    await asyncio.sleep(interval)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            STATE["connected"] = False
            STATE["error"] = repr(exc)[:300]
            await asyncio.sleep(2)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", **STATE})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    task = asyncio.create_task(feed(Path(env("RUN_DIR", ".run"))))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


app = Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)


def run() -> None:
    uvicorn.run(app, host="127.0.0.1", port=int(env("PORT", "8191")), log_config=None, access_log=False)


if __name__ == "__main__":
    run()
