"""Checks over a service's FastAPI app that every test suite can run."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute


def blocking_handlers(app: FastAPI) -> list[str]:
    """Endpoints and dependencies that are plain `def` functions.

    FastAPI runs those in its thread pool: a thread hop per call, on every request. Services keep them
    `async` (none of them does blocking I/O), so the list should be empty.
    """
    found: list[str] = []

    def visit(dependant: Any, where: str) -> None:
        call = dependant.call
        if call is not None and not inspect.iscoroutinefunction(call) and not inspect.isclass(call):
            found.append(f"{where}: {getattr(call, '__qualname__', call)}")
        for sub in dependant.dependencies:
            visit(sub, where)

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                visit(route.dependant, f"{sorted(route.methods or [])} {route.path}")
            included = getattr(route, "original_router", None)  # FastAPI ≥ 0.16x keeps included routers
            if included is not None:
                walk(included.routes)

    walk(app.routes)
    if not any(isinstance(r, APIRoute) or hasattr(r, "original_router") for r in app.routes):
        raise AssertionError("no API routes found: FastAPI's route layout changed, fix this walk")
    return sorted(set(found))
