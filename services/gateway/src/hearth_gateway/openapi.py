"""The merged OpenAPI document: every routed service's `/openapi.json` in one, rebuilt at most every
`cache_seconds`."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from hearth_kit.logging import get_logger

log = get_logger(__name__)

_REF_PREFIX = "#/components/schemas/"


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            is_ref = k == "$ref" and isinstance(v, str) and v.startswith(_REF_PREFIX)
            name = v[len(_REF_PREFIX):] if is_ref else None
            if name is not None and name in renames:
                out[k] = _REF_PREFIX + renames[name]
            else:
                out[k] = _rewrite_refs(v, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def _service_prefix(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def merge_openapi(docs: Mapping[str, dict[str, Any]], *, title: str = "Hearth API",
                  version: str = "1") -> dict[str, Any]:
    """One OpenAPI 3.1 document: paths united, clashing schema names prefixed by service."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Every Hearth service behind one gateway. Authenticate with "
                                "`Authorization: Bearer <API key or temporary token>`."},
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An API key or a temporary token from POST /v1/auth/token"},
        }},
        "security": [{"bearer": []}],
        "tags": [],
    }
    schemas: dict[str, Any] = merged["components"]["schemas"]
    seen_tags: set[str] = set()
    for service in sorted(docs):
        doc = copy.deepcopy(docs[service])
        own: dict[str, Any] = (doc.get("components") or {}).get("schemas") or {}
        renames = {name: f"{_service_prefix(service)}{name}" for name, body in own.items()
                   if name in schemas and schemas[name] != _rewrite_refs(body, {})}
        own = _rewrite_refs(own, renames)
        for name, body in own.items():
            schemas[renames.get(name, name)] = body
        for path, item in (_rewrite_refs(doc.get("paths") or {}, renames)).items():
            merged["paths"].setdefault(path, {}).update(item)
        for scheme, body in ((doc.get("components") or {}).get("securitySchemes") or {}).items():
            merged["components"]["securitySchemes"].setdefault(scheme, body)
        for tag in doc.get("tags") or []:
            if tag.get("name") not in seen_tags:
                seen_tags.add(tag.get("name"))
                merged["tags"].append(tag)
    return merged


class OpenApiDocs:
    """Fetches and merges the services' documents."""

    def __init__(self, services: Mapping[str, str], *, cache_seconds: float) -> None:
        self.services = dict(services)
        self.cache_seconds = cache_seconds
        self.session: aiohttp.ClientSession | None = None  # set while the gateway runs
        self._cached: tuple[dict[str, Any], float] | None = None

    async def document(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._cached is not None and self._cached[1] > now:
            return self._cached[0]
        docs, missing = await self._fetch_all()
        merged = merge_openapi(docs)
        if missing:
            merged["info"]["x-unavailable-services"] = missing
        self._cached = (merged, now + self.cache_seconds)
        return merged

    async def _fetch_all(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        session = self.session
        assert session is not None, "gateway not started"

        async def one(name: str, base: str) -> tuple[str, dict[str, Any] | None]:
            try:
                async with session.get(f"{base}/openapi.json", timeout=aiohttp.ClientTimeout(total=3)) as resp:
                    resp.raise_for_status()
                    doc: dict[str, Any] = json.loads(await resp.read())
                    return name, doc
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("openapi not available", service=name, error=repr(exc))
                return name, None

        results = await asyncio.gather(*(one(n, b) for n, b in self.services.items()))
        return {n: d for n, d in results if d is not None}, [n for n, d in results if d is None]
