"""docker-compose.yml is generated from deploy/platform.toml and must stay current and complete."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

import yaml

REPO = Path(__file__).resolve().parents[2]


def _compose() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compose", REPO / "deploy" / "docker" / "compose.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_compose_file_is_current() -> None:
    committed = (REPO / "docker-compose.yml").read_text()
    assert committed == _compose().render(), "run: python deploy/docker/compose.py > docker-compose.yml"


def test_every_registered_service_runs_and_the_gateway_waits_for_all_of_them() -> None:
    registry = tomllib.loads((REPO / "deploy" / "platform.toml").read_text())
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = doc["services"]
    for name, spec in registry["services"].items():
        assert name in services, name
        assert services[name]["healthcheck"]["test"][0] == "CMD"
        assert spec["env_prefix"] + "DATABASE_URL" in services[name]["environment"]
        assert (REPO / "services" / services[name]["build"]["args"]["SERVICE"] / "pyproject.toml").exists()
    waits = services["gateway"]["depends_on"]
    assert {n for n in registry["services"] if n != "gateway"} <= {
        n for n, c in waits.items() if c["condition"] == "service_healthy"}
    assert services["gateway"]["ports"] == ["8080:8080"]


def test_the_build_context_keeps_secrets_and_local_state_out() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".run/", ".venv/", ".git/"} <= set(ignored)
