"""Every endpoint and dependency is async (FastAPI would run a plain `def` one in its thread pool)."""

from __future__ import annotations

from hearth_gateway.main import build_app
from hearth_kit.testing.handlers import blocking_handlers


def test_no_endpoint_or_dependency_runs_in_the_thread_pool() -> None:
    assert blocking_handlers(build_app()) == []
