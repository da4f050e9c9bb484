"""Pick the test run's Kafka and Postgres: env vars, else testcontainers (live Docker), else deploy/local.

One Kafka and one Postgres serve a whole test run; tests isolate themselves by org or schema.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[5]
LOCAL = REPO_ROOT / "deploy" / "local"


@dataclass
class Infra:
    """Where the run's infrastructure is, and how to put it away."""

    database_url: str  # superuser/admin DSN: used only to provision roles and for raw checks
    kafka_bootstrap: str
    how: str
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()
        self._stops.clear()


def docker_alive() -> bool:
    """A live Docker daemon answers a ping (the binary alone proves nothing)."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local(script: str, action: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["bash", str(LOCAL / script), action], env={**os.environ, **env},
        capture_output=True, text=True, timeout=600, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {action} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def _stop(script: str, env: dict[str, str]) -> None:
    _local(script, "stop", env)


def _running(script: str, env: dict[str, str]) -> bool:
    proc = subprocess.run(["bash", str(LOCAL / script), "status"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode == 0


def _value(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(name + "="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError(f"{name} not printed by the local runner:\n{output}")


def start_infra() -> Infra:
    """Start (or find) the run's Kafka and Postgres."""
    db_url = os.environ.get("HEARTH_DATABASE_URL")
    bootstrap = os.environ.get("HEARTH_KAFKA_BOOTSTRAP")
    infra = Infra(database_url=db_url or "", kafka_bootstrap=bootstrap or "", how="env")
    if db_url and bootstrap:
        return infra
    if docker_alive():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        if not db_url:
            pg = PostgresContainer("postgres:16", username="hearth", password="hearth", dbname="hearth")
            pg.start()
            infra._stops.append(pg.stop)
            infra.database_url = pg.get_connection_url(driver=None)
        if not bootstrap:
            kafka = KafkaContainer("apache/kafka:4.1.0").with_kraft()
            kafka.start()
            infra._stops.append(kafka.stop)
            infra.kafka_bootstrap = kafka.get_bootstrap_server()
        infra.how = "testcontainers"
        return infra
    run_dir = os.environ.get("HEARTH_TEST_RUN_DIR", str(REPO_ROOT / ".run" / "test"))
    env = {
        "HEARTH_RUN_DIR": run_dir,
        "HEARTH_PG_PORT": os.environ.get("HEARTH_TEST_PG_PORT", "15432"),
        "HEARTH_KAFKA_PORT": os.environ.get("HEARTH_TEST_KAFKA_PORT", "19092"),
        "HEARTH_KAFKA_CONTROLLER_PORT": os.environ.get("HEARTH_TEST_KAFKA_CONTROLLER_PORT", "19093"),
        "HEARTH_PG_FAST": "1",
    }
    # Stop at the end only what this run started: another run (or a developer) may share it.
    if not db_url:
        was_running = _running("postgres.sh", env)
        infra.database_url = _value(_local("postgres.sh", "start", env), "DATABASE_URL")
        if not was_running:
            infra._stops.append(lambda: _stop("postgres.sh", env))
    if not bootstrap:
        was_running = _running("kafka.sh", env)
        infra.kafka_bootstrap = _value(_local("kafka.sh", "start", env), "KAFKA_BOOTSTRAP")
        if not was_running:
            infra._stops.append(lambda: _stop("kafka.sh", env))
    infra.how = "local"
    return infra
