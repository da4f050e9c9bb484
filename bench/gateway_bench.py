"""Gateway benchmark: throughput through the gateway ÷ direct, and the latency the gateway adds.

Figures, not assertions. Self-contained by default: starts a trivial upstream (uvicorn; it also plays
auth-token's identity lookup with an unlimited enterprise key), the gateway (uvicorn, one process) in
front of it and, when `nginx` is on PATH, an nginx `proxy_pass` in front of the same upstream. It needs
Postgres and Kafka only because the gateway runtime starts with them: `--database-url` (admin DSN) and
`--kafka` default to HEARTH_DATABASE_URL / HEARTH_KAFKA_BOOTSTRAP, else the local test infra is started
(and stopped again). Point it at a running platform instead with `--upstream URL --gateway URL --key KEY`.

Load comes from separate processes (so the generator does not share the measured process's loop):
closed-loop workers for throughput, an open-loop schedule at a fixed rate for latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PATH = "/v1/ping"



def _ratio_text(gateway_added: tuple[float, float], nginx_added: tuple[float, float]) -> str:
    """Ratios only where nginx's added latency rises above run-to-run noise (separate runs are compared)."""
    parts = []
    for g, n in zip(gateway_added, nginx_added, strict=True):
        parts.append(f"{g / n:.1f}x" if n > 0.05 else "n/a (nginx-added within noise)")
    return " / ".join(parts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


# ---------------------------------------------------------------- the trivial upstream (a subprocess)

def serve_upstream(port: int) -> None:
    """GET /v1/ping, plus the identity lookup and an empty JWKS, like auth-token would answer."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def ping(_: Request) -> Response:
        return Response(b'{"data":{"pong":true}}', media_type="application/json")

    async def by_hash(request: Request) -> Response:
        return JSONResponse({"data": {"key_id": "key_bench", "org_id": "org_bench", "role": "admin", "scopes": [],
                                      "plan": "enterprise", "rate_limit_per_hour": None, "revoked": False}})

    async def jwks(_: Request) -> Response:
        return JSONResponse({"keys": []})

    app = Starlette(routes=[Route(PATH, ping), Route("/internal/v1/api-keys/by-hash/{h}", by_hash),
                            Route("/.well-known/jwks.json", jwks)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---------------------------------------------------------------- load generation (subprocesses)

async def _closed_loop(url: str, headers: dict[str, str], seconds: float, concurrency: int, client: str) -> int:
    done = 0
    deadline = time.perf_counter() + seconds
    if client == "httpx":
        import httpx

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
    import aiohttp

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


def start_nginx(procs: Processes, upstream_port: int, workdir: Path) -> str | None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        return None
    port = free_port()
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
  upstream app {{ server 127.0.0.1:{upstream_port}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }}
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
    ap.add_argument("--path", default=PATH, help="the GET path measured")
    ap.add_argument("--database-url", default=os.environ.get("HEARTH_DATABASE_URL"))
    ap.add_argument("--kafka", default=os.environ.get("HEARTH_KAFKA_BOOTSTRAP"))
    ap.add_argument("--seconds", type=float, default=5, help="per throughput measurement")
    ap.add_argument("--latency-seconds", type=float, default=10)
    ap.add_argument("--rate", type=float, default=1000, help="requests/s for the latency measurement")
    # internal modes
    ap.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--headers", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="closed", help=argparse.SUPPRESS)
    ap.add_argument("--concurrency", type=int, default=32, help=argparse.SUPPRESS)
    ap.add_argument("--client", default="aiohttp", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    if args.loadgen:
        loadgen(args)
        return
    bench(args)


def bench(args: argparse.Namespace) -> None:
    procs = Processes()
    infra = None
    scratch = ""
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    try:
        if args.upstream and args.gateway and args.key:
            upstream, gateway, key, path = args.upstream, args.gateway, args.key, args.path
            nginx = None
        else:
            path = PATH
            if not (args.database_url and args.kafka):
                sys.path.insert(0, str(ROOT / "libs" / "kit" / "src"))
                from hearth_kit.testing.infra import start_infra

                print("starting local Postgres/Kafka (test infra) ...", flush=True)
                infra = start_infra()
                args.database_url, args.kafka = infra.database_url, infra.kafka_bootstrap
            from hearth_kit.db import role_dsn

            up_port, gw_port = free_port(), free_port()
            procs.start([sys.executable, __file__, "--serve-upstream", str(up_port)], log=workdir / "upstream.log")
            upstream = f"http://127.0.0.1:{up_port}"
            wait_http(upstream + PATH)
            key = "hk_bench_" + secrets.token_urlsafe(16)
            password = secrets.token_hex(12)
            # A throwaway schema and role per run, dropped at the end: nothing carries over between runs.
            scratch = f"gateway_bench_{secrets.token_hex(4)}"
            procs.start([sys.executable, "-m", "hearth_gateway.main"], log=workdir / "gateway.log", env={
                "HEARTH_ADMIN_DATABASE_URL": args.database_url,
                "HEARTH_GATEWAY_DATABASE_URL": role_dsn(args.database_url, role=scratch,
                                                        password=password),
                "HEARTH_GATEWAY_DB_SCHEMA": scratch,
                "HEARTH_GATEWAY_KAFKA_BOOTSTRAP": args.kafka,
                "HEARTH_GATEWAY_PORT": str(gw_port),
                "HEARTH_GATEWAY_ROUTES": json.dumps({"/v1": upstream}),
                "HEARTH_GATEWAY_SERVICES": "{}",
                "HEARTH_GATEWAY_AUTH_URL": upstream,
                "HEARTH_GATEWAY_LOG_LEVEL": "WARNING",
                "HEARTH_GATEWAY_ENVIRONMENT": "dev",
            })
            gateway = f"http://127.0.0.1:{gw_port}"
            try:
                wait_http(gateway + "/healthz", proc=procs.procs[-1])
            except RuntimeError:
                print((workdir / "gateway.log").read_text()[-3000:], file=sys.stderr)
                raise
            nginx = start_nginx(procs, up_port, workdir)
        auth = {"Authorization": f"Bearer {key}"}
        print(f"upstream {upstream}  gateway {gateway}  nginx {nginx or '-'}  cores {os.cpu_count()}", flush=True)

        rows: list[tuple[str, str]] = []
        direct_rps = throughput(upstream + path, {}, seconds=args.seconds)
        gw_pid = procs.procs[1].pid if not args.gateway else None  # [upstream, gateway, nginx]
        cpu_before = process_cpu_seconds(gw_pid)
        gw_rps = throughput(gateway + path, auth, seconds=args.seconds)
        cpu_after = process_cpu_seconds(gw_pid)
        rows += [("throughput direct (req/s)", f"{direct_rps:,.0f}"),
                 ("throughput via gateway (req/s)", f"{gw_rps:,.0f}"),
                 ("gateway ÷ direct (goal ≥ 0.5)", f"{gw_rps / direct_rps:.2f}")]
        if cpu_before is not None and cpu_after is not None and gw_rps:
            # CPU the gateway process spent per forwarded request: steadier than req/s on a shared box.
            rows.append(("gateway CPU per request (µs, closed loop)",
                         f"{(cpu_after - cpu_before) / (gw_rps * args.seconds) * 1e6:,.0f}"))
        if nginx:
            ngx_rps = throughput(nginx + path, {}, seconds=args.seconds)
            rows += [("throughput via nginx (req/s)", f"{ngx_rps:,.0f}"),
                     ("gateway ÷ nginx throughput", f"{gw_rps / ngx_rps:.2f}")]

        def lat(url: str, headers: dict[str, str]) -> dict[str, Any]:
            return run_loadgen(url, headers, mode="open", seconds=args.latency_seconds, rate=args.rate)[0]

        d = lat(upstream + path, {})
        g = lat(gateway + path, auth)
        rows += [(f"direct p50 / p99 @ {d['rate']:.0f} req/s (ms)", f"{d['p50']:.2f} / {d['p99']:.2f}"),
                 (f"gateway p50 / p99 @ {g['rate']:.0f} req/s (ms)", f"{g['p50']:.2f} / {g['p99']:.2f}"),
                 ("gateway-added p50 / p99 (ms; goal p99 ≤ 5)",
                  f"{g['p50'] - d['p50']:.2f} / {g['p99'] - d['p99']:.2f}"),
                 ("errors direct / gateway", f"{d['errors']} / {g['errors']}")]
        if nginx:
            n = lat(nginx + path, {})
            added_n = (n["p50"] - d["p50"], n["p99"] - d["p99"])
            rows += [(f"nginx p50 / p99 @ {n['rate']:.0f} req/s (ms)", f"{n['p50']:.2f} / {n['p99']:.2f}"),
                     ("nginx-added p50 / p99 (ms)", f"{added_n[0]:.2f} / {added_n[1]:.2f}"),
                     ("gateway-added ÷ nginx-added (p50, p99)", _ratio_text(
                         (g["p50"] - d["p50"], g["p99"] - d["p99"]), added_n))]
        else:
            rows.append(("nginx", "not on PATH: comparison skipped"))
        # The gateway's upstream client: the same closed loop with aiohttp and with httpx, one process.
        a = throughput(upstream + path, {}, seconds=3, processes=1)
        h = throughput(upstream + path, {}, seconds=3, processes=1, client="httpx")
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
        if scratch:
            drop_scratch(args.database_url, scratch)
        if infra is not None:
            infra.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
