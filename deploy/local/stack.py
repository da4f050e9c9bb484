"""Run the whole platform as local processes: `up` (provision, start, wait healthy, seed demo) and `down`.

Kafka and Postgres come from kafka.sh / postgres.sh (or HEARTH_DATABASE_URL / HEARTH_KAFKA_BOOTSTRAP);
every service runs from the workspace venv with its own database role. State lives in the run dir:
secrets.json (generated once), pids/, logs/, demo.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "deploy" / "platform.toml"


def run_dir() -> Path:
    return Path(os.environ.get("HEARTH_RUN_DIR", REPO / ".run")).resolve()


def services() -> dict[str, dict[str, Any]]:
    """The registry, with ports shifted by HEARTH_PORT_OFFSET (a second platform beside the first)."""
    offset = int(os.environ.get("HEARTH_PORT_OFFSET", "0"))
    declared: dict[str, dict[str, Any]] = tomllib.loads(REGISTRY.read_text())["services"]
    specs = {name: {**spec, "port": spec["port"] + offset} for name, spec in declared.items()}
    # Extra gateway replicas (same schema and config, next ports) to show shared rate limits and revocation.
    for n in range(2, int(os.environ.get("HEARTH_GATEWAY_REPLICAS", "1")) + 1):
        specs[f"gateway-{n}"] = {**specs["gateway"], "port": specs["gateway"]["port"] + n - 1, "replica_of": "gateway"}
    return specs


def simulators() -> dict[str, dict[str, Any]]:
    """Stand-ins for outside systems (a lock vendor, devices): `[simulators.<name>]`, ports shifted like services."""
    offset = int(os.environ.get("HEARTH_PORT_OFFSET", "0"))
    declared: dict[str, dict[str, Any]] = tomllib.loads(REGISTRY.read_text()).get("simulators", {})
    return {name: {**spec, "port": spec["port"] + offset} for name, spec in declared.items()}


def simulator_urls() -> dict[str, str]:
    """`HEARTH_SIMULATOR_<NAME>_URL` for every simulator, handed to every service."""
    return {f"HEARTH_SIMULATOR_{name.upper().replace('-', '_')}_URL": f"http://127.0.0.1:{spec['port']}"
            for name, spec in simulators().items()}


def load_secrets(path: Path) -> dict[str, Any]:
    """Secrets generated on first `up` and reused after (so demo keys survive a restart); see kit devsecrets."""
    from hearth_kit.devsecrets import load_or_create

    doc = load_or_create(path)
    missing = [n for n, s in services().items() if "replica_of" not in s and n not in doc["db_passwords"]]
    if missing:  # a service added since the file was written gets its database password now
        doc["db_passwords"].update({name: secrets.token_hex(16) for name in missing})
        path.write_text(json.dumps(doc, indent=2))
    return doc


def _value(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(name + "="):
            return line.split("=", 1)[1].strip()
    raise SystemExit(f"{name} not printed:\n{output}")


def start_infra() -> tuple[str, str]:
    """Postgres and Kafka, started side by side (Kafka's JVM start is the longer of the two)."""
    here = REPO / "deploy" / "local"
    db, kafka = os.environ.get("HEARTH_DATABASE_URL"), os.environ.get("HEARTH_KAFKA_BOOTSTRAP")
    jobs = {name: subprocess.Popen(["bash", str(here / script), "start"], stdout=subprocess.PIPE, text=True)
            for name, script, given in (("DATABASE_URL", "postgres.sh", db), ("KAFKA_BOOTSTRAP", "kafka.sh", kafka))
            if not given}
    printed = {name: job.communicate()[0] for name, job in jobs.items()}
    for name, job in jobs.items():
        if job.returncode != 0:
            raise SystemExit(f"starting {name} failed (exit {job.returncode}):\n{printed[name]}")
    return (db or _value(printed["DATABASE_URL"], "DATABASE_URL"),
            kafka or _value(printed["KAFKA_BOOTSTRAP"], "KAFKA_BOOTSTRAP"))


def warm_bytecode(modules: list[str]) -> subprocess.Popen[bytes]:
    """Import every service's and simulator's module once, writing bytecode, while the infra starts.

    The processes started next then load cached bytecode instead of each compiling the same libraries
    from source at once (most of a service's start-up CPU on a fresh venv)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)"
    return subprocess.Popen([sys.executable, "-c", code, *modules], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def service_env(name: str, spec: dict[str, Any], *, admin_db: str, kafka: str, sec: dict[str, Any],
                all_specs: dict[str, dict[str, Any]]) -> dict[str, str]:
    from hearth_kit.db import role_dsn
    from hearth_kit.devsecrets import service_env as secret_env

    p = spec["env_prefix"]
    name = spec.get("replica_of", name)
    env = {
        f"{p}DATABASE_URL": role_dsn(admin_db, role=f"hearth_{spec['schema']}", password=sec["db_passwords"][name]),
        f"{p}DB_SCHEMA": spec["schema"],
        f"{p}KAFKA_BOOTSTRAP": kafka,
        f"{p}PORT": str(spec["port"]),
        f"{p}ENVIRONMENT": os.environ.get("HEARTH_ENVIRONMENT", "dev"),
        "HEARTH_ADMIN_DATABASE_URL": admin_db,
        **simulator_urls(),
        **secret_env(name, p, sec),
    }
    if name == "webhooks":  # a local receiver (tests, a laptop) is on loopback; prod allowlists nothing by default
        local = env[f"{p}ENVIRONMENT"] in ("dev", "test")
        env[f"{p}SSRF_ALLOWLIST"] = os.environ.get(f"{p}SSRF_ALLOWLIST", '["127.0.0.0/8"]' if local else "[]")
    url = {n: f"http://127.0.0.1:{s['port']}" for n, s in all_specs.items()}
    if name == "gateway":
        env.update({
            # The route table is the platform file's; only where each service listens (ports shifted) is ours.
            f"{p}PLATFORM_FILE": str(REGISTRY),
            f"{p}UPSTREAMS": json.dumps({n: url[n] for n, s in all_specs.items() if s["routes"]}),
        })
    return env


def _get(url: str, timeout: float = 2) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback only)
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def start_service(name: str, spec: dict[str, Any], env: dict[str, str]) -> None:
    rd = run_dir()
    pid_file = rd / "pids" / f"{name}.pid"
    healthy = _get(f"http://127.0.0.1:{spec['port']}/healthz") == 200
    if pid_file.exists() and _pid_alive(int(pid_file.read_text())) and healthy:
        print(f"  {name}: already running")
        return
    log = (rd / "logs" / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", spec["module"]], env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        cwd=REPO, start_new_session=True,
    )
    pid_file.write_text(str(proc.pid))
    print(f"  {name}: started pid {proc.pid} on :{spec['port']}")


def wait_ready(name: str, spec: dict[str, Any], timeout: float = 120, path: str = "/readyz") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _get(f"http://127.0.0.1:{spec['port']}{path}") == 200:
            return
        pid = int((run_dir() / "pids" / f"{name}.pid").read_text())
        if not _pid_alive(pid):
            break
        time.sleep(0.5)
    log = (run_dir() / "logs" / f"{name}.log").read_text(errors="replace").splitlines()[-40:]
    raise SystemExit(f"{name} did not become ready; last log lines:\n" + "\n".join(log))


def _request(method: str, url: str, *, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={  # noqa: S310
        "Authorization": f"Bearer {token}", "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return int(resp.status), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return int(err.code), json.loads(err.read() or b"null")


def seed_demo(gateway_url: str, sec: dict[str, Any], demo_path: Path) -> dict[str, Any]:
    """A demo org and its admin key, created once through the gateway like any operator would."""
    if demo_path.exists():
        old = json.loads(demo_path.read_text())
        if old.get("api_key") and _request("GET", f"{gateway_url}/v1/buildings", token=old["api_key"])[0] == 200:
            return {"api_key": old["api_key"], "org_id": old["org_id"]}
    status, doc = _request("POST", f"{gateway_url}/v1/admin/orgs", token=sec["admin_key"],
                           body={"name": "Demo Property Co", "plan": "professional"})
    if status != 201:
        raise SystemExit(f"seeding the demo org failed: {status} {doc}")
    return {"api_key": doc["data"]["api_key"]["secret"], "org_id": doc["data"]["org"]["id"]}


def seed_demo_data(gateway_url: str, api_key: str, specs: dict[str, dict[str, Any]]) -> None:
    """Each service's `demo_seed` ("module:function"); each must be idempotent.

    The first in registry order (property: buildings, units, leases) runs alone, since the others build
    on its data; the rest run side by side, as each mostly waits on the platform."""
    import importlib
    from concurrent.futures import ThreadPoolExecutor

    def run(name: str, target: str) -> None:
        module, _, function = target.partition(":")
        try:
            getattr(importlib.import_module(module), function)(gateway_url, api_key)
        except Exception as exc:  # demo data is a convenience: a failure is reported, the platform stays up
            print(f"  {name}: demo data not seeded: {exc!r}")

    seeds = [(name, spec["demo_seed"]) for name, spec in specs.items()
             if "replica_of" not in spec and spec.get("demo_seed")]
    if not seeds:
        return
    run(*seeds[0])
    with ThreadPoolExecutor(max_workers=max(1, len(seeds) - 1)) as pool:
        list(pool.map(lambda seed: run(*seed), seeds[1:]))


def up() -> None:
    rd = run_dir()
    for sub in ("pids", "logs"):
        (rd / sub).mkdir(parents=True, exist_ok=True)
    warming = warm_bytecode(sorted({spec["module"] for spec in (*services().values(), *simulators().values())}))
    admin_db, kafka = start_infra()
    print(f"infra: postgres {admin_db.split('@')[-1]}  kafka {kafka}")
    sec = load_secrets(rd / "secrets.json")
    specs = services()
    sys.path.insert(0, str(REPO / "libs" / "kit" / "src"))
    from hearth_contracts.topics import ALL_TOPICS
    from hearth_kit.db import provision_service_database
    from hearth_kit.messaging import ensure_topics

    async def prepare() -> None:
        for name, spec in specs.items():
            if "replica_of" not in spec:
                await provision_service_database(admin_db, schema=spec["schema"], role=f"hearth_{spec['schema']}",
                                                 password=sec["db_passwords"][name])
        await ensure_topics(kafka, ALL_TOPICS)

    asyncio.run(prepare())
    sims = simulators()
    warming.wait()  # a failed warm-up only costs speed: each service then compiles what it imports
    for name, spec in sims.items():
        p = spec["env_prefix"]
        start_service(name, spec, {f"{p}PORT": str(spec["port"]), f"{p}RUN_DIR": str(rd), **simulator_urls()})
    # Everything starts at once (services reach simulators only when they work, not at start); then we wait.
    for name, spec in specs.items():
        start_service(name, spec, service_env(name, spec, admin_db=admin_db, kafka=kafka, sec=sec, all_specs=specs))
    for name, spec in sims.items():
        wait_ready(name, spec, path="/healthz")
    for name, spec in specs.items():
        wait_ready(name, spec)
    gateway_url = f"http://127.0.0.1:{specs['gateway']['port']}"
    demo = seed_demo(gateway_url, sec, rd / "demo.json")
    seed_demo_data(gateway_url, demo["api_key"], specs)
    doc = {
        "gateway_url": gateway_url,
        "admin_key": sec["admin_key"],
        "api_key": demo["api_key"],
        "org_id": demo["org_id"],
        "gateway_urls": [f"http://127.0.0.1:{s['port']}" for n, s in specs.items() if n.startswith("gateway")],
        "services": {n: f"http://127.0.0.1:{s['port']}" for n, s in specs.items()},
        "simulators": {n: f"http://127.0.0.1:{s['port']}" for n, s in sims.items()},
        "kafka_bootstrap": kafka,
        "database_url": admin_db,
    }
    (rd / "demo.json").write_text(json.dumps(doc, indent=2))
    print(f"\nHearth is up.\n  gateway: {gateway_url}  (docs: {gateway_url}/docs)\n  demo API key: {demo['api_key']}\n"
          f"  details: {rd / 'demo.json'}")


def down() -> None:
    rd = run_dir()
    pids = sorted((rd / "pids").glob("*.pid")) if (rd / "pids").exists() else []
    for pid_file in pids:
        pid = int(pid_file.read_text())
        if _pid_alive(pid):
            os.killpg(pid, signal.SIGTERM)
            for _ in range(100):
                if not _pid_alive(pid):
                    break
                time.sleep(0.1)
            if _pid_alive(pid):
                os.killpg(pid, signal.SIGKILL)
        pid_file.unlink()
        print(f"  {pid_file.stem}: stopped")
    if not os.environ.get("HEARTH_KEEP_INFRA"):
        here = REPO / "deploy" / "local"
        subprocess.run(["bash", str(here / "kafka.sh"), "stop"], check=False)
        subprocess.run(["bash", str(here / "postgres.sh"), "stop"], check=False)


def restart(name: str) -> None:
    """Stop one service (or gateway replica) and start it again with the same settings (fault tests)."""
    specs = services()
    if name not in specs:
        raise SystemExit(f"unknown service {name!r}; known: {', '.join(specs)}")
    pid_file = run_dir() / "pids" / f"{name}.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        if _pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)  # a crash, not a graceful stop
            while _pid_alive(pid):
                time.sleep(0.05)
        pid_file.unlink()
    admin_db, kafka = start_infra()
    sec = load_secrets(run_dir() / "secrets.json")
    start_service(name, specs[name], service_env(name, specs[name], admin_db=admin_db, kafka=kafka, sec=sec,
                                                 all_specs=specs))
    wait_ready(name, specs[name])


def print_env(name: str) -> None:
    """Shell exports that run one service by hand against the infra and secrets of `make up`."""
    import shlex

    specs = services()
    if name not in specs:
        raise SystemExit(f"unknown service {name!r}; known: {', '.join(specs)}")
    admin_db, kafka = start_infra()
    sec = load_secrets(run_dir() / "secrets.json")
    env = service_env(name, specs[name], admin_db=admin_db, kafka=kafka, sec=sec, all_specs=specs)
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")
    print(f"# then: .venv/bin/python -m {specs[name]['module']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["up", "down", "env", "restart"])
    parser.add_argument("service", nargs="?", help="with env or restart: the service")
    args = parser.parse_args()
    if args.action == "env":
        print_env(args.service or "")
    elif args.action == "restart":
        restart(args.service or "")
    else:
        {"up": up, "down": down}[args.action]()
