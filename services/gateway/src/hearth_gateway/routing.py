"""Which service answers a path: the route table, read only from the platform file (`deploy/platform.toml`).

Each service entry lists path prefixes (`routes = ["/v1/buildings", "/v1/leases/*/ledger"]`). A prefix matches
a path on whole segments; `*` matches exactly one segment. When several prefixes match, the most specific
wins: the one with more segments, then the one with more literal (non-`*`) segments, earlier ones first.
Where a service lives (its base URL) is deployment configuration, not routing: `upstream_url_template`
(`http://127.0.0.1:{port}` by default, `http://{service}:{port}` under Docker) or an explicit URL per service.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# Well-known URIs (RFC 8615) are public by definition: forwarded without credentials, GET and HEAD only.
PUBLIC_PREFIXES: tuple[str, ...] = ("/.well-known",)


@dataclass(frozen=True)
class Route:
    """One prefix of one service."""

    prefix: str  # as declared, normalised (`/v1/leases/*/ledger`)
    service: str
    base_url: str
    segments: tuple[str, ...]

    @property
    def specificity(self) -> tuple[int, int]:
        return len(self.segments), sum(1 for s in self.segments if s != "*")

    @property
    def public(self) -> bool:
        return any(self.prefix == p or self.prefix.startswith(p + "/") for p in PUBLIC_PREFIXES)

    def matches(self, parts: list[str]) -> bool:
        if len(parts) < len(self.segments):
            return False
        for want, got in zip(self.segments, parts, strict=False):
            if want != "*" and want != got:
                return False
            if want == "*" and not got:
                return False
        return True


def _segments(prefix: str) -> tuple[str, ...]:
    return tuple(s for s in prefix.strip("/").split("/") if s)


class RouteTable:
    """Prefixes → services; `match(path)` gives the most specific route, or None."""

    def __init__(self, routes: Iterable[Route]) -> None:
        ordered = list(routes)
        # Stable sort: among equally specific prefixes the one declared first wins.
        self._routes = sorted(ordered, key=lambda r: r.specificity, reverse=True)
        self._cache: dict[str, Route | None] = {}

    @classmethod
    def from_prefixes(cls, prefixes: Mapping[str, tuple[str, str]]) -> RouteTable:
        """From `{prefix: (service, base URL)}` (tests and tools)."""
        return cls(Route(prefix="/" + "/".join(_segments(p)), service=s, base_url=u.rstrip("/"),
                         segments=_segments(p)) for p, (s, u) in prefixes.items())

    @property
    def routes(self) -> list[Route]:
        return list(self._routes)

    def services(self) -> dict[str, str]:
        """Service name → base URL, for every service with at least one route."""
        return {r.service: r.base_url for r in self._routes}

    def match(self, path: str) -> Route | None:
        if path in self._cache:
            return self._cache[path]
        parts = path.split("/")[1:] if path.startswith("/") else path.split("/")
        found = next((r for r in self._routes if r.matches(parts)), None)
        if len(self._cache) < 50_000:  # (paths with ids are many; the cache only spares the common ones)
            self._cache[path] = found
        return found


def default_platform_file() -> Path:
    """`deploy/platform.toml` of the checkout this package runs from (the image copies it to /app)."""
    here = Path(__file__).resolve()
    for parent in [Path.cwd(), *here.parents]:
        candidate = parent / "deploy" / "platform.toml"
        if candidate.is_file():
            return candidate
    return Path("/app/platform.toml")


def load_route_table(platform_file: Path, *, url_template: str, upstreams: Mapping[str, str]) -> RouteTable:
    """The route table of every `[services.<name>]` entry with `routes` in the platform file."""
    declared = tomllib.loads(platform_file.read_text())["services"]
    routes: list[Route] = []
    for name, spec in declared.items():
        prefixes = spec.get("routes") or []
        if not prefixes:
            continue
        base = upstreams.get(name) or url_template.format(service=name, port=spec["port"])
        for prefix in prefixes:
            segments = _segments(prefix)
            if not segments:
                raise ValueError(f"service {name}: the route {prefix!r} would take every path")
            routes.append(Route(prefix="/" + "/".join(segments), service=name, base_url=base.rstrip("/"),
                                segments=segments))
    return RouteTable(routes)
