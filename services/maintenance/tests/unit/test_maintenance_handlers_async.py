"""Every endpoint and dependency is async (FastAPI would run a plain `def` one in its thread pool)."""

from __future__ import annotations

from hearth_kit.testing.handlers import blocking_handlers
from hearth_kit.testing.services import TEST_JWKS
from hearth_maintenance.config import Settings
from hearth_maintenance.main import build_app


def test_no_endpoint_or_dependency_runs_in_the_thread_pool() -> None:
    assert blocking_handlers(build_app(Settings(internal_jwks=TEST_JWKS))) == []
