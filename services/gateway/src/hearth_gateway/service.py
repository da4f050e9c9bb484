"""Gateway use cases: who is calling (API key, temporary token, operator key), may they, how many so far."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import jwt
from hearth_contracts.auth import ApiKeyCreated, ApiKeyRevoked
from hearth_contracts.envelope import Envelope
from hearth_kit.auth import INTERNAL_TOKEN_HEADER, ROLES, InternalTokenSigner, Principal, SigningKey, jwks
from hearth_kit.logging import get_logger
from hearth_kit.problems import Problem

from hearth_gateway.config import Settings
from hearth_gateway.counters import RateCounter
from hearth_gateway.domain import (
    PLATFORM_ADMIN_SCOPE,
    PLATFORM_ORG,
    Identity,
    RateDecision,
    classify_token,
    plan_limit,
    rate_decision,
    window_start,
)
from hearth_gateway.upstream import UpstreamClient

log = get_logger(__name__)

GATEWAY_SUBJECT = "gateway"
GATEWAY_SCOPE = "internal:gateway"
OPERATOR_KEY_ID = "key_platform_admin"  # the operator key's id as auth-token reports it
_MAX_CACHE_ENTRIES = 200_000


def unauthorized(detail: str, *, slug: str = "unauthorized", title: str | None = None,
                 error: str | None = "invalid_token") -> Problem:
    """A 401 problem with the RFC 6750 challenge."""
    challenge = 'Bearer realm="hearth"'
    if error:
        challenge += f', error="{error}", error_description="{detail}"'
    return Problem(401, detail, slug=slug, title=title, headers={"WWW-Authenticate": challenge})


def _revoked() -> Problem:
    return unauthorized("this API key has been revoked", slug="token-revoked", title="Token Revoked")


def _auth_unavailable(detail: str) -> Problem:
    return Problem(503, detail, slug="auth-unavailable", headers={"Retry-After": "1"})


def sha256_hex(secret: str) -> str:
    """How auth-token stores a key: hex SHA-256 of the whole secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class IdentityCache:
    """API-key identities by secret hash, kept fresh by `auth.events`; negative answers expire quickly."""

    positive_ttl: float
    negative_ttl: float
    _by_hash: dict[str, tuple[Identity | None, float]] = field(default_factory=dict)
    revoked_keys: set[str] = field(default_factory=set)
    revoked_hashes: set[str] = field(default_factory=set)

    def get(self, digest: str, now: float) -> tuple[bool, Identity | None]:
        """(hit, identity); a hit with None is a cached "no such key"."""
        entry = self._by_hash.get(digest)
        if entry is None or entry[1] <= now:
            return False, None
        return True, entry[0]

    def put(self, digest: str, identity: Identity | None, now: float) -> None:
        if identity is not None and (identity.key_id in self.revoked_keys or digest in self.revoked_hashes):
            return
        if len(self._by_hash) >= _MAX_CACHE_ENTRIES:
            self._by_hash = {k: v for k, v in self._by_hash.items() if v[1] > now}
        ttl = self.positive_ttl if identity is not None else self.negative_ttl
        self._by_hash[digest] = (identity, now + ttl)

    def revoke(self, *, key_id: str, digest: str | None) -> None:
        self.revoked_keys.add(key_id)
        if digest:
            self.revoked_hashes.add(digest)
            self._by_hash.pop(digest, None)
        stale = [k for k, (ident, _) in self._by_hash.items() if ident is not None and ident.key_id == key_id]
        for k in stale:
            self._by_hash.pop(k, None)

    def forget_positive(self) -> None:
        """Drop every cached identity (after missing events, auth-token is asked again)."""
        self._by_hash = {k: v for k, v in self._by_hash.items() if v[0] is None}


class JwksCache:
    """auth-token's signing keys by kid; an unknown kid triggers a refetch, at most every `min_refetch` s.

    Fetched with the gateway's aiohttp session, so a refetch never blocks the event loop
    (PyJWKClient fetches with blocking urllib).
    """

    def __init__(self, url: str, *, min_refetch: float) -> None:
        self.url = url
        self.min_refetch = min_refetch
        self.keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -1e18
        self._lock = asyncio.Lock()

    async def key(self, kid: str, session: aiohttp.ClientSession) -> jwt.PyJWK | None:
        if kid in self.keys:
            return self.keys[kid]
        async with self._lock:
            if kid not in self.keys and time.monotonic() - self._fetched_at >= self.min_refetch:
                await self._fetch(session)
        return self.keys.get(kid)

    async def _fetch(self, session: aiohttp.ClientSession) -> None:
        try:
            async with session.get(self.url, timeout=aiohttp.ClientTimeout(total=3)) as resp:
                resp.raise_for_status()
                doc = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("could not fetch auth-token JWKS", url=self.url, error=repr(exc))
            raise Problem(503, "token keys are unavailable right now; retry shortly", slug="auth-unavailable",
                          headers={"Retry-After": "1"}) from exc
        self._fetched_at = time.monotonic()
        keys: dict[str, jwt.PyJWK] = {}
        for raw in doc.get("keys", []):
            try:
                k = jwt.PyJWK.from_dict(raw)
            except jwt.PyJWTError:
                continue
            if k.key_id:
                keys[k.key_id] = k
        self.keys = keys


class InternalTokens:
    """Mints the forwarded internal JWT, re-using one per caller while it has ≥ half its life left."""

    def __init__(self, signer: InternalTokenSigner) -> None:
        self.signer = signer
        self._cache: dict[tuple[str, str, str, frozenset[str], str | None], tuple[str, float]] = {}

    def for_identity(self, identity: Identity, now: float) -> str:
        cache_key = (identity.org_id, identity.key_id, identity.role, identity.forwarded_scopes, identity.member_id)
        hit = self._cache.get(cache_key)
        if hit is not None and hit[1] > now:
            return hit[0]
        principal = Principal(org_id=identity.org_id, subject=identity.key_id, role=identity.role,
                              scopes=identity.forwarded_scopes, member_id=identity.member_id)
        token: str = self.signer.mint(principal)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[cache_key] = (token, now + self.signer.ttl / 2)
        return token


class Gateway:
    """Everything the proxy needs, built once in `main.py`."""

    def __init__(self, settings: Settings, key: SigningKey) -> None:
        self.settings = settings
        self.key = key
        self.signer = InternalTokenSigner(key, ttl_seconds=settings.internal_token_ttl_seconds)
        self.tokens = InternalTokens(self.signer)
        self.identities = IdentityCache(positive_ttl=settings.identity_ttl_seconds,
                                        negative_ttl=settings.negative_ttl_seconds)
        self.jwks_cache = JwksCache(settings.jwks_url, min_refetch=settings.jwks_min_refetch_seconds)
        self._admin_digest = sha256_hex(settings.admin_key) if settings.admin_key else None
        self._session: aiohttp.ClientSession | None = None
        self._upstream: UpstreamClient | None = None
        self._counter: RateCounter | None = None
        self._inflight: dict[str, asyncio.Future[Identity | None]] = {}
        self.events_ready = asyncio.Event()
        self._openapi: tuple[dict[str, Any], float] | None = None

    # -------------------------------------------------------------- lifecycle

    async def start(self, pool: asyncpg.Pool) -> None:
        """Open the upstream connection pools (keep-alive) and the rate counters on the database pool."""
        self._counter = RateCounter(pool)
        connector = aiohttp.TCPConnector(limit=self.settings.upstream_pool_size, limit_per_host=0,
                                         ttl_dns_cache=300, keepalive_timeout=30)
        # auto_decompress off: bodies pass through byte for byte with their Content-Encoding.
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                              cookie_jar=aiohttp.DummyCookieJar())
        # The forwarded calls' own client (see upstream.py); read_timeout bounds each wait for bytes, so a
        # silent upstream is a 504 while a slow but steady stream is not cut off.
        self._upstream = UpstreamClient(limit_per_origin=self.settings.upstream_pool_size,
                                        connect_timeout=min(self.settings.upstream_timeout_seconds, 5.0),
                                        read_timeout=self.settings.upstream_timeout_seconds)

    async def stop(self) -> None:
        if self._upstream is not None:
            await self._upstream.close()
            self._upstream = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def counter(self) -> RateCounter:
        assert self._counter is not None, "gateway not started"
        return self._counter

    @property
    def upstream(self) -> UpstreamClient:
        assert self._upstream is not None, "gateway not started"
        return self._upstream

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "gateway not started"
        return self._session

    def public_jwks(self) -> dict[str, Any]:
        doc: dict[str, Any] = jwks(self.key)
        return doc

    # -------------------------------------------------------------- authentication

    async def authenticate(self, token: str, *, now: float | None = None) -> Identity:
        """The identity behind a bearer credential; raises a 401 (or 503 when auth-token is unreachable)."""
        now = time.time() if now is None else now
        kind = classify_token(token)
        if kind == "malformed":
            raise unauthorized("the bearer token is malformed")
        if kind == "jwt":
            return await self._verify_temporary(token, now)
        digest = sha256_hex(token)
        if self._admin_digest is not None and hmac.compare_digest(digest, self._admin_digest):
            return Identity(key_id=OPERATOR_KEY_ID, org_id=PLATFORM_ORG, role="admin", plan="enterprise",
                            scopes=frozenset({PLATFORM_ADMIN_SCOPE}), rate_limit_per_hour=None)
        if digest in self.identities.revoked_hashes:
            raise _revoked()
        hit, identity = self.identities.get(digest, time.monotonic())
        if not hit:
            identity = await self._lookup_once(digest)
        if identity is None:
            if digest in self.identities.revoked_hashes:
                raise _revoked()
            raise unauthorized("unknown API key")
        if identity.key_id in self.identities.revoked_keys:
            raise _revoked()
        return identity

    async def _lookup_once(self, digest: str) -> Identity | None:
        """One auth-token lookup per hash at a time; concurrent callers share its answer."""
        pending = self._inflight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[Identity | None] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = fut
        try:
            identity = await self._lookup(digest)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved when nobody else waits
            raise
        finally:
            self._inflight.pop(digest, None)
        fut.set_result(identity)
        return identity

    async def _lookup(self, digest: str) -> Identity | None:
        url = f"{self.settings.auth_url.rstrip('/')}/internal/v1/api-keys/by-hash/{digest}"
        me = Identity(key_id=GATEWAY_SUBJECT, org_id=PLATFORM_ORG, role="admin",
                      scopes=frozenset({GATEWAY_SCOPE}))
        headers = {INTERNAL_TOKEN_HEADER: self.tokens.for_identity(me, time.time())}
        try:
            async with self.session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(
                    total=self.settings.auth_lookup_timeout_seconds)) as resp:
                if resp.status == 404:
                    self.identities.put(digest, None, time.monotonic())
                    return None
                if resp.status != 200:
                    raise _auth_unavailable(f"authentication service answered {resp.status}")
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("api key lookup failed", error=repr(exc))
            raise _auth_unavailable("authentication service is unavailable; retry shortly") from exc
        data = body.get("data") or {}
        if data.get("revoked"):
            self.identities.revoke(key_id=str(data.get("key_id")), digest=digest)
            return None  # revoked_hashes now answers the caller with token-revoked on its next try
        identity = self._identity_from(data)
        self.identities.put(digest, identity, time.monotonic())
        return identity

    def _identity_from(self, data: dict[str, Any], *, temporary: bool = False) -> Identity:
        role = data.get("role")
        org = data.get("org_id", data.get("org"))
        key_id = data.get("key_id", data.get("sub"))
        if role not in ROLES or not isinstance(org, str) or not isinstance(key_id, str):
            raise unauthorized("credential carries no valid org, role or key id")
        plan = str(data.get("plan") or "standard")
        explicit = data.get("rate_limit_per_hour")
        limit = plan_limit(plan, int(explicit) if explicit is not None else None, self.settings.plan_limits,
                           has_explicit="rate_limit_per_hour" in data)
        return Identity(key_id=key_id, org_id=org, role=role, scopes=frozenset(data.get("scopes") or ()),
                        plan=plan, rate_limit_per_hour=limit, temporary=temporary,
                        member_id=data["member_id"] if isinstance(data.get("member_id"), str) else None)

    async def _verify_temporary(self, token: str, now: float) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise unauthorized("the bearer token is malformed") from exc
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise unauthorized("temporary token has no key id")
        key = await self.jwks_cache.key(kid, self.session)
        if key is None:
            raise unauthorized("temporary token signed by an unknown key")
        try:
            claims = jwt.decode(token, key.key, algorithms=["EdDSA", "ES256"],
                                audience=self.settings.auth_token_audience,
                                issuer=self.settings.auth_token_issuer,
                                options={"require": ["exp", "sub", "iss", "aud"]})
        except jwt.ExpiredSignatureError as exc:
            raise unauthorized("the temporary token has expired; exchange your API key for a new one",
                               slug="token-expired", title="Token Expired") from exc
        except jwt.PyJWTError as exc:
            raise unauthorized(f"invalid temporary token: {exc}") from exc
        identity = self._identity_from(claims, temporary=True)
        if identity.key_id in self.identities.revoked_keys:
            raise unauthorized("the API key behind this token has been revoked", slug="token-revoked",
                               title="Token Revoked")
        return identity

    # -------------------------------------------------------------- events

    def apply_auth_event(self, envelope: Envelope) -> None:
        """Keep the identity cache in step with auth-token's facts."""
        if envelope.type == ApiKeyRevoked.event_type:
            revoked: ApiKeyRevoked = envelope.data_as(ApiKeyRevoked)
            self.identities.revoke(key_id=revoked.key_id, digest=revoked.secret_sha256)
            log.info("api key revoked", key_id=revoked.key_id)
        elif envelope.type == ApiKeyCreated.event_type:
            created: ApiKeyCreated = envelope.data_as(ApiKeyCreated)
            limit = plan_limit(created.plan, None, self.settings.plan_limits, has_explicit=False)
            identity = Identity(key_id=created.key_id, org_id=created.org_id, role=created.role,
                                scopes=frozenset(created.scopes), plan=created.plan,
                                rate_limit_per_hour=limit, member_id=created.member_id)
            self.identities.put(created.secret_sha256, identity, time.monotonic())

    # -------------------------------------------------------------- rate limits

    async def count(self, identity: Identity, *, now: float | None = None) -> RateDecision | None:
        """Count one request against the caller's hourly window; None for unlimited callers."""
        limit = identity.rate_limit_per_hour
        if limit is None:
            return None
        now = time.time() if now is None else now
        window = self.settings.rate_window_seconds
        if limit <= 0:
            return rate_decision(limit=0, count=None, now=now, window_seconds=window)
        start = datetime.fromtimestamp(window_start(now, window), UTC)
        try:
            number = await self.counter.hit(key_id=identity.key_id, window_start=start, limit=limit)
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            # Fail closed: without the shared counter the limit cannot be enforced exactly.
            log.error("rate counter unavailable", error=repr(exc))
            raise Problem(503, "rate limiting is unavailable; retry shortly", slug="rate-limit-unavailable",
                          headers={"Retry-After": "1"}) from exc
        return rate_decision(limit=limit, count=number, now=now, window_seconds=window)

    # -------------------------------------------------------------- OpenAPI

    async def openapi_documents(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Each service's /openapi.json (those that answer) and the names of those that did not."""
        async def one(name: str, base: str) -> tuple[str, dict[str, Any] | None]:
            try:
                async with self.session.get(f"{base.rstrip('/')}/openapi.json",
                                            timeout=aiohttp.ClientTimeout(total=3)) as resp:
                    resp.raise_for_status()
                    doc: dict[str, Any] = json.loads(await resp.read())
                    return name, doc
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("openapi not available", service=name, error=repr(exc))
                return name, None

        results = await asyncio.gather(*(one(n, b) for n, b in self.settings.services.items()))
        return {n: d for n, d in results if d is not None}, [n for n, d in results if d is None]

    async def cached(self, build: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """The merged OpenAPI, rebuilt at most every `openapi_cache_seconds`."""
        now = time.monotonic()
        if self._openapi is not None and self._openapi[1] > now:
            return self._openapi[0]
        doc = await build()
        self._openapi = (doc, now + self.settings.openapi_cache_seconds)
        return doc
