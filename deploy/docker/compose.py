"""Writes `docker-compose.yml` from `deploy/platform.toml`, so Docker runs exactly what `make up` runs.

`python deploy/docker/compose.py > docker-compose.yml` (a unit test checks the file is current). Secrets
are generated on first start into a shared volume by `hearth_kit.devsecrets` (dev only); database roles
get fixed dev passwords. Every service waits for Postgres and Kafka to be healthy, and the gateway for
every service.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "deploy" / "platform.toml"

HEADER = """\
# GENERATED from deploy/platform.toml by `python deploy/docker/compose.py > docker-compose.yml`; do not edit.
# The platform from images, for hosts with Docker: `docker compose up --build`, then http://127.0.0.1:8080.
# Dev only: secrets are generated on first start into the `dev-secrets` volume (read the operator key with
# `docker compose exec gateway cat /secrets/secrets.json`), database passwords are fixed dev values.
"""

KAFKA_IMAGE = "apache/kafka:4.1.0"
POSTGRES_IMAGE = "postgres:16"


def _healthcheck(port: int) -> dict[str, Any]:
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=2)"
    return {"test": ["CMD", "python", "-c", probe], "interval": "5s", "timeout": "3s", "retries": 30,
            "start_period": "10s"}


def _image(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"context": ".", "dockerfile": "deploy/docker/Dockerfile",
            "args": {"SERVICE": spec.get("package_dir", name), "PACKAGE": spec["module"].split(".")[0]}}


def _common_env(registry: dict[str, Any]) -> dict[str, str]:
    sims = registry.get("simulators", {})
    return {
        "HEARTH_KAFKA_BOOTSTRAP": "kafka:9092",
        "HEARTH_ADMIN_DATABASE_URL": "postgresql://hearth:hearth@postgres:5432/hearth",
        "HEARTH_ENVIRONMENT": "dev",
        "HEARTH_HOST": "0.0.0.0",  # noqa: S104 (inside its container)
        **{f"HEARTH_SIMULATOR_{n.upper().replace('-', '_')}_URL": f"http://{n}:{s['port']}" for n, s in sims.items()},
    }


def _service(name: str, spec: dict[str, Any], registry: dict[str, Any]) -> dict[str, Any]:
    prefix, schema, port = spec["env_prefix"], spec["schema"], spec["port"]
    services = registry["services"]
    env = {
        **_common_env(registry),
        "PORT": str(port),
        f"{prefix}PORT": str(port),
        f"{prefix}DB_SCHEMA": schema,
        f"{prefix}DATABASE_URL": f"postgresql://hearth_{schema}:{schema}-dev-password@postgres:5432/hearth",
    }
    depends: dict[str, Any] = {"postgres": {"condition": "service_healthy"},
                               "kafka": {"condition": "service_healthy"}}
    depends.update({sim: {"condition": "service_healthy"} for sim in registry.get("simulators", {})})
    if name == "gateway":  # routes come from the platform file baked into the image; services by name
        env.update({f"{prefix}PLATFORM_FILE": "/app/platform.toml",
                    f"{prefix}UPSTREAM_URL_TEMPLATE": "http://{service}:{port}"})
        depends.update({n: {"condition": "service_healthy"} for n in services if n != "gateway"})
    return {
        "build": _image(name, spec),
        "restart": "unless-stopped",
        "depends_on": depends,
        "environment": env,
        "volumes": ["dev-secrets:/secrets"],
        "command": ["python", "-m", "hearth_kit.devsecrets", "run", name, prefix, "--",
                    "python", "-m", spec["module"]],
        "healthcheck": _healthcheck(port),
        **({"ports": [f"{port}:{port}"]} if name == "gateway" else {}),
    }


def _simulator(name: str, spec: dict[str, Any], registry: dict[str, Any]) -> dict[str, Any]:
    port = spec["port"]
    return {
        "build": _image(spec.get("service", name), spec),
        "restart": "unless-stopped",
        "environment": {**_common_env(registry), "PORT": str(port), f"{spec['env_prefix']}PORT": str(port)},
        "command": ["python", "-m", spec["module"]],
        "healthcheck": _healthcheck(port),
    }


def build(registry: dict[str, Any]) -> dict[str, Any]:
    """The compose document for a registry."""
    doc: dict[str, Any] = {"services": {
        "postgres": {
            "image": POSTGRES_IMAGE,
            "environment": {"POSTGRES_USER": "hearth", "POSTGRES_PASSWORD": "hearth", "POSTGRES_DB": "hearth"},
            "ports": ["5432:5432"],
            "healthcheck": {"test": ["CMD-SHELL", "pg_isready -U hearth -d hearth"], "interval": "5s",
                            "retries": 20},
        },
        "kafka": {
            "image": KAFKA_IMAGE,
            "environment": {
                "KAFKA_NODE_ID": 1, "KAFKA_PROCESS_ROLES": "broker,controller",
                "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
                "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka:9092",
                "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@kafka:9093",
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": 1, "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": 1,
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": 1, "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": 0,
                "KAFKA_NUM_PARTITIONS": 3,
            },
            "healthcheck": {"test": ["CMD-SHELL", "/opt/kafka/bin/kafka-cluster.sh cluster-id "
                                     "--bootstrap-server localhost:9092"], "interval": "5s", "retries": 30},
        },
    }, "volumes": {"dev-secrets": {}}}
    for name, spec in registry.get("simulators", {}).items():
        doc["services"][name] = _simulator(name, spec, registry)
    for name, spec in registry["services"].items():
        doc["services"][name] = _service(name, spec, registry)
    return doc


def render(registry: dict[str, Any] | None = None) -> str:
    """The file's text."""
    registry = registry or tomllib.loads(REGISTRY.read_text())
    return HEADER + str(yaml.safe_dump(build(registry), sort_keys=False, width=120))


if __name__ == "__main__":
    sys.stdout.write(render())
