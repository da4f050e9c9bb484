"""Gateway benchmark: throughput through the gateway ÷ direct, and the latency the gateway adds.

Figures, not assertions. Self-contained by default: starts a trivial upstream (uvicorn; it also plays
auth-token's identity lookup: an unlimited key, and a key with a huge hourly limit so every call is counted
in Postgres), the property service with one building, the gateway (one process) in front of both and, when
`nginx` is on PATH, an nginx `proxy_pass` in front of the same two. `--database-url` (admin DSN) and
`--kafka` default to HEARTH_DATABASE_URL / HEARTH_KAFKA_BOOTSTRAP, else the local test infra is started (and
stopped again); each run uses throwaway schemas and roles, dropped at the end. Point it at a running
platform instead with `--upstream URL --gateway URL --key KEY [--path P]`.

Load comes from separate processes (so the generator does not share the measured process's loop):
closed-loop workers for throughput, measured in interleaved rounds so a slow phase of a shared box hits
every target alike (medians, and medians of per-round ratios); an open-loop schedule at a fixed rate for
latency, interleaved the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import pct

ROOT = Path(__file__).resolve().parents[1]
PATH = "/v1/ping"
ORG = "org_bench"



def _ratio_text(gateway_added: tuple[float, float], nginx_added: tuple[float, float]) -> str:
    """Ratios only where nginx's added latency is measurable at all."""
    parts = []
    for g, n in zip(gateway_added, nginx_added, strict=True):
        parts.append(f"{g / n:.1f}x" if n >= 0.01 else "n/a (nginx adds < 0.01 ms)")
    return " / ".join(parts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])




# ---------------------------------------------------------------- the trivial upstream (a subprocess)

def serve_upstream(port: int, limited_hashes: frozenset[str]) -> None:
    """GET /v1/ping, plus the identity lookup and an empty JWKS, like auth-token would answer."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def ping(_: Request) -> Response:
        return Response(b'{"data":{"pong":true}}', media_type="application/json")

    async def by_hash(request: Request) -> Response:
        # Keys whose secret starts with LIMITED_PREFIX have a (huge) hourly limit: the gateway then counts
        # every call in Postgres, as it does for real plans. Others are unlimited (enterprise).
        limited = request.path_params["h"] in limited_hashes
        return JSONResponse({"data": {
            "key_id": "key_bench_limited" if limited else "key_bench", "org_id": ORG, "role": "admin",
            "scopes": [], "plan": "professional" if limited else "enterprise",
            "rate_limit_per_hour": 10**9 if limited else None, "revoked": False}})

    async def jwks(_: Request) -> Response:
        return JSONResponse({"keys": []})

    app = Starlette(routes=[Route(PATH, ping), Route("/internal/v1/api-keys/by-hash/{h}", by_hash),
                            Route("/.well-known/jwks.json", jwks)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---------------------------------------------------------------- load generation (subprocesses)

async def _closed_loop(url: str, headers: dict[str, str], seconds: float, concurrency: int, client: str) -> int:
    import aiohttp
    import httpx

    done = 0
    deadline = time.perf_counter() + seconds  # (after the imports: on a busy box they took seconds)
    if client == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as hc:
            async def hworker() -> None:
                nonlocal done
                while time.perf_counter() < deadline:
                    r = await hc.get(url, headers=headers)
                    await r.aread()
                    done += r.status_code == 200

            await asyncio.gather(*(hworker() for _ in range(concurrency)))
        return done

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(url, headers=headers) as r:
                    await r.read()
                    done += r.status == 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def _open_loop(url: str, headers: dict[str, str], seconds: float, rate: float) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for _ in range(20):  # warm the pools
            async with session.get(url, headers=headers) as r:
                await r.read()

        async def one() -> None:
            nonlocal errors
            t = time.perf_counter()
            try:
                async with session.get(url, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                        return
            except aiohttp.ClientError:
                errors += 1
                return
            latencies.append((time.perf_counter() - t) * 1000)

        tasks = []
        start = time.perf_counter()
        n = int(seconds * rate)
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        achieved = n / (time.perf_counter() - start)
    return {"p50": pct(latencies, 50), "p99": pct(latencies, 99), "n": len(latencies), "errors": errors,
            "rate": achieved}


def loadgen(args: argparse.Namespace) -> None:
    headers = json.loads(args.headers)
    if args.mode == "closed":
        print(json.dumps({"done": asyncio.run(_closed_loop(args.url, headers, args.seconds, args.concurrency,
                                                           args.client))}))
    else:
        print(json.dumps(asyncio.run(_open_loop(args.url, headers, args.seconds, args.rate))))


def run_loadgen(url: str, headers: dict[str, str], *, mode: str, seconds: float, processes: int = 1,
                concurrency: int = 32, rate: float = 0, client: str = "aiohttp") -> list[dict[str, Any]]:
    cmd = [sys.executable, __file__, "--loadgen", "--url", url, "--headers", json.dumps(headers), "--mode", mode,
           "--seconds", str(seconds), "--concurrency", str(concurrency), "--rate", str(rate), "--client", client]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    return [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def throughput(url: str, headers: dict[str, str], *, seconds: float, client: str = "aiohttp",
               processes: int = 2) -> float:
    results = run_loadgen(url, headers, mode="closed", seconds=seconds, processes=processes, concurrency=32,
                          client=client)
    return float(sum(r["done"] for r in results)) / seconds


# ---------------------------------------------------------------- process management

class Processes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> None:
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
        self.procs.append(subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=out, stderr=out,
                                           start_new_session=True))

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process (Linux /proc), None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drop_scratch(admin_dsn: str, name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            await conn.execute(f'DROP OWNED BY "{name}"')
            await conn.execute(f'DROP ROLE IF EXISTS "{name}"')
        finally:
            await conn.close()

    with contextlib.suppress(Exception):
        asyncio.run(drop())


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        with contextlib.suppress(Exception), urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310
            if r.status < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def start_nginx(procs: Processes, locations: dict[str, int], workdir: Path) -> str | None:
    """nginx `proxy_pass` (keep-alive to the upstreams, one worker: like the one gateway process)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        return None
    port = free_port()
    upstreams = "\n".join(f"  upstream u{p} {{ server 127.0.0.1:{p}; keepalive 128; }}"
                          for p in set(locations.values()))
    routes = "\n".join(f"    location {prefix} {{ proxy_pass http://u{p}; proxy_http_version 1.1; "
                       f"proxy_set_header Connection \"\"; }}" for prefix, p in locations.items())
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/body; proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fcgi; uwsgi_temp_path {workdir}/uwsgi; scgi_temp_path {workdir}/scgi;
{upstreams}
  server {{
    listen 127.0.0.1:{port};
{routes}
  }}
}}
""")
    procs.start([nginx, "-c", str(conf), "-p", str(workdir)], log=workdir / "nginx.out")
    url = f"http://127.0.0.1:{port}"
    wait_http(url + PATH, timeout=15)
    return url


# ---------------------------------------------------------------- the run

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", help="a running service's base URL (with --gateway and --key)")
    ap.add_argument("--gateway", help="a running gateway's base URL")
    ap.add_argument("--key", help="an API key (enterprise/unlimited, or the bench eats its rate limit)")
    ap.add_argument("--path", default=PATH, help="the GET path measured (with --upstream)")
    ap.add_argument("--database-url", default=os.environ.get("HEARTH_DATABASE_URL"))
    ap.add_argument("--kafka", default=os.environ.get("HEARTH_KAFKA_BOOTSTRAP"))
    ap.add_argument("--rounds", type=int, default=5, help="interleaved throughput rounds (medians reported)")
    ap.add_argument("--seconds", type=float, default=2, help="per target per throughput round")
    ap.add_argument("--latency-rounds", type=int, default=3)
    ap.add_argument("--latency-seconds", type=float, default=4, help="per target per latency round")
    ap.add_argument("--rate", type=float, default=1000, help="requests/s for the latency measurement")
    # internal modes
    ap.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--limited-hashes", default="", help=argparse.SUPPRESS)
    ap.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--headers", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="closed", help=argparse.SUPPRESS)
    ap.add_argument("--concurrency", type=int, default=32, help=argparse.SUPPRESS)
    ap.add_argument("--client", default="aiohttp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream, frozenset(filter(None, args.limited_hashes.split(","))))
        return
    if args.loadgen:
        loadgen(args)
        return
    bench(args)


Target = tuple[str, dict[str, str]]  # URL, headers


class Stack:
    """What the self-contained run starts: fake auth + trivial upstream, property, gateway, nginx."""

    def __init__(self, args: argparse.Namespace, procs: Processes, workdir: Path) -> None:
        self.args, self.procs, self.workdir = args, procs, workdir
        self.scratch: list[str] = []
        self.pids: dict[str, int] = {}

    def _service_db(self, prefix: str, name: str) -> dict[str, str]:
        from hearth_kit.db import role_dsn

        scratch = f"{name}_bench_{secrets.token_hex(4)}"  # dropped at the end: nothing carries over
        self.scratch.append(scratch)
        return {"HEARTH_ADMIN_DATABASE_URL": self.args.database_url,
                f"{prefix}DATABASE_URL": role_dsn(self.args.database_url, role=scratch,
                                                  password=secrets.token_hex(12)),
                f"{prefix}DB_SCHEMA": scratch, f"{prefix}KAFKA_BOOTSTRAP": self.args.kafka,
                f"{prefix}LOG_LEVEL": "WARNING", f"{prefix}ENVIRONMENT": "dev"}

    def _start(self, name: str, cmd: list[str], env: dict[str, str], health: str) -> None:
        self.procs.start(cmd, env=env, log=self.workdir / f"{name}.log")
        self.pids[name] = self.procs.procs[-1].pid
        try:
            wait_http(health, proc=self.procs.procs[-1])
        except RuntimeError:
            print((self.workdir / f"{name}.log").read_text()[-3000:], file=sys.stderr)
            raise

    def start(self) -> dict[str, Any]:
        from hearth_kit.auth import InternalTokenSigner, Principal, SigningKey, jwks

        key = SigningKey.generate("bench-gateway")
        api_key = "hk_bench_" + secrets.token_urlsafe(16)
        limited_key = "hk_bench_limited_" + secrets.token_urlsafe(16)
        up_port, prop_port, gw_port = free_port(), free_port(), free_port()
        upstream, prop, gateway = (f"http://127.0.0.1:{p}" for p in (up_port, prop_port, gw_port))
        self._start("upstream", [sys.executable, __file__, "--serve-upstream", str(up_port),
                                 "--limited-hashes", hashlib.sha256(limited_key.encode()).hexdigest()],
                    {}, upstream + PATH)
        self._start("property", [sys.executable, "-m", "hearth_property.main"], {
            **self._service_db("HEARTH_PROPERTY_", "property"), "HEARTH_PROPERTY_PORT": str(prop_port),
            "HEARTH_PROPERTY_INTERNAL_JWKS": json.dumps(jwks(key))}, prop + "/readyz")
        self._start("gateway", [sys.executable, "-m", "hearth_gateway.main"], {
            **self._service_db("HEARTH_GATEWAY_", "gateway"), "HEARTH_GATEWAY_PORT": str(gw_port),
            # The trivial upstream plays auth-token too (key lookups), so it is "auth-token" in the platform file.
            "HEARTH_GATEWAY_PLATFORM_FILE": str(self._platform_file(up_port, prop_port)),
            "HEARTH_GATEWAY_PLAN_LIMITS": json.dumps({"professional": 10**9}),
            "HEARTH_GATEWAY_SIGNING_KEY_PEM": key.private_pem(), "HEARTH_GATEWAY_SIGNING_KID": key.kid},
            gateway + "/healthz")
        # What the gateway would forward, minted here for the direct calls (valid for the whole run).
        internal = InternalTokenSigner(key, ttl_seconds=3600).mint(
            Principal(org_id=ORG, subject="key_bench", role="admin", scopes=frozenset()))
        building = create_building(prop, internal)
        nginx = start_nginx(self.procs, {"/v1/ping": up_port, "/v1/buildings": prop_port}, self.workdir)
        return {"upstream": upstream, "property": prop, "gateway": gateway, "nginx": nginx,
                "api_key": api_key, "limited_key": limited_key, "internal": internal, "building": building}

    def _platform_file(self, up_port: int, prop_port: int) -> Path:
        path = self.workdir / "platform.toml"
        path.write_text(f'[services.auth-token]\nport = {up_port}\nroutes = ["{PATH}"]\n'
                        f'[services.property]\nport = {prop_port}\nroutes = ["/v1/buildings"]\n')
        return path

    def stop(self) -> None:
        for name in self.scratch:
            drop_scratch(self.args.database_url, name)


def create_building(base: str, internal: str) -> str:
    import urllib.request

    body = json.dumps({"name": "Bench Tower", "type": "residential", "timezone": "Asia/Dubai",
                       "address": {"line1": "Dubai Marina", "city": "Dubai", "country": "AE"}}).encode()
    req = urllib.request.Request(base + "/v1/buildings", data=body, method="POST", headers={  # noqa: S310
        "content-type": "application/json", "x-hearth-internal-token": internal})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (loopback only)
        return str(json.loads(resp.read())["data"]["id"])


def interleaved(targets: dict[str, Target], *, rounds: int, seconds: float,
                cpu_of: dict[str, int | None]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Closed-loop req/s of every target, round after round (so slow phases of a noisy box hit all of them
    alike), and the gateway process's CPU per request where its pid is known."""
    rps: dict[str, list[float]] = {name: [] for name in targets}
    cpu: dict[str, list[float]] = {name: [] for name in targets if cpu_of.get(name)}
    for _ in range(rounds):
        for name, (url, headers) in targets.items():
            before = process_cpu_seconds(cpu_of.get(name))
            r = throughput(url, headers, seconds=seconds)
            after = process_cpu_seconds(cpu_of.get(name))
            rps[name].append(r)
            if before is not None and after is not None and r:
                cpu[name].append((after - before) / (r * seconds) * 1e6)
    return rps, cpu


def per_round_ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True) if y)


def bench(args: argparse.Namespace) -> None:
    procs = Processes()
    infra = None
    stack: Stack | None = None
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    rows: list[tuple[str, str]] = []
    try:
        if args.upstream and args.gateway and args.key:
            plain: dict[str, Target] = {"direct": (args.upstream + args.path, {}),
                                        "gateway": (args.gateway + args.path, {"Authorization": f"Bearer {args.key}"})}
            real: dict[str, Target] = {}
            gw_pid = None
        else:
            if not (args.database_url and args.kafka):
                sys.path.insert(0, str(ROOT / "libs" / "kit" / "src"))
                from hearth_kit.testing.infra import start_infra

                print("starting local Postgres/Kafka (test infra) ...", flush=True)
                infra = start_infra()
                args.database_url, args.kafka = infra.database_url, infra.kafka_bootstrap
            stack = Stack(args, procs, workdir)
            s = stack.start()
            gw_pid = stack.pids["gateway"]
            key = {"Authorization": f"Bearer {s['api_key']}"}
            limited = {"Authorization": f"Bearer {s['limited_key']}"}
            internal = {"x-hearth-internal-token": s["internal"]}
            one = f"/v1/buildings/{s['building']}"
            real = {"direct": (s["property"] + one, internal), "gateway": (s["gateway"] + one, key),
                    "gateway, rate-limited key": (s["gateway"] + one, limited)}
            plain = {"direct": (s["upstream"] + PATH, {}), "gateway": (s["gateway"] + PATH, key)}
            if s["nginx"]:
                real["nginx"] = (s["nginx"] + one, internal)
                plain["nginx"] = (s["nginx"] + PATH, {})
            print(f"upstream {s['upstream']}  property {s['property']}  gateway {s['gateway']}  "
                  f"nginx {s['nginx'] or '-'}  cores {os.cpu_count()}", flush=True)
        for url, headers in [*real.values(), *plain.values()]:  # warm every pool and cache
            throughput(url, headers, seconds=0.5, processes=1)

        def section(title: str, targets: dict[str, Target]) -> None:
            if not targets:
                return
            cpu_of = {n: gw_pid for n in targets if n.startswith("gateway")}
            rps, cpu = interleaved(targets, rounds=args.rounds, seconds=args.seconds, cpu_of=cpu_of)
            rows.append((f"{title}: {args.rounds} interleaved rounds of {args.seconds:g} s, medians", ""))
            for name, values in rps.items():
                rows.append((f"  via {name} (req/s)" if name != "direct" else "  direct (req/s)",
                             f"{statistics.median(values):,.0f}"))
            for name in rps:
                if name.startswith("gateway"):
                    goal = " (goal ≥ 0.5)" if name == "gateway" else ""
                    rows.append((f"  {name} ÷ direct{goal}", f"{per_round_ratio(rps[name], rps['direct']):.2f}"))
            if "nginx" in rps:
                rows.append(("  nginx ÷ direct", f"{per_round_ratio(rps['nginx'], rps['direct']):.2f}"))
            for name, values in cpu.items():
                rows.append((f"  gateway CPU per request, {name} (µs)", f"{statistics.median(values):,.0f}"))

        section("GET /v1/buildings/{id} (property, Postgres)", real)
        section(f"GET {PATH} (trivial upstream: the gateway's own cost)", plain)
        latency(args, plain, rows)
        # The gateway's HTTP client choice: aiohttp against httpx, same closed loop, one process.
        url = plain["direct"][0]
        a = throughput(url, {}, seconds=3, processes=1)
        h = throughput(url, {}, seconds=3, processes=1, client="httpx")
        rows += [("client aiohttp, 32 concurrent (req/s)", f"{a:,.0f}"),
                 ("client httpx, 32 concurrent (req/s)", f"{h:,.0f}"),
                 ("aiohttp ÷ httpx", f"{a / h:.2f}")]

        width = max(len(r[0]) for r in rows)
        print("\nGateway benchmark (one run; figures, not assertions)")
        print("-" * (width + 20))
        for name, value in rows:
            print(f"{name:<{width}}  {value}")
    finally:
        procs.stop()
        if stack is not None:
            stack.stop()
        if infra is not None:
            infra.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def latency(args: argparse.Namespace, plain: dict[str, Target], rows: list[tuple[str, str]]) -> None:
    """Open loop at a fixed rate, interleaved rounds; added latency = via - direct, per round, median."""
    stats: dict[str, list[dict[str, Any]]] = {name: [] for name in plain}
    for _ in range(args.latency_rounds):
        for name, (url, headers) in plain.items():
            stats[name].append(run_loadgen(url, headers, mode="open", seconds=args.latency_seconds,
                                           rate=args.rate)[0])

    def med(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in stats[name]))

    def added(name: str, key: str) -> float:
        return float(statistics.median(v[key] - d[key] for v, d in zip(stats[name], stats["direct"], strict=True)))

    rows.append((f"GET {PATH} at a fixed {args.rate:,.0f} req/s: {args.latency_rounds} interleaved rounds of "
                 f"{args.latency_seconds:g} s, medians", ""))
    for name in plain:
        label = "direct" if name == "direct" else f"via {name}"
        errors = sum(r["errors"] for r in stats[name])
        rows.append((f"  {label} p50 / p99 (ms) @ {med(name, 'rate'):,.0f} req/s",
                     f"{med(name, 'p50'):.2f} / {med(name, 'p99'):.2f}   errors {errors}"))
    g50, g99 = added("gateway", "p50"), added("gateway", "p99")
    rows.append(("  gateway-added p50 / p99 (ms; goal p99 ≤ 5)", f"{g50:.2f} / {g99:.2f}"))
    if "nginx" in plain:
        n50, n99 = added("nginx", "p50"), added("nginx", "p99")
        rows.append(("  nginx-added p50 / p99 (ms)", f"{n50:.2f} / {n99:.2f}"))
        rows.append(("  gateway-added ÷ nginx-added (p50, p99)", _ratio_text((g50, g99), (n50, n99))))
    else:
        rows.append(("  nginx", "not on PATH: comparison skipped"))


if __name__ == "__main__":
    main()
