"""Who is calling: API keys, temporary tokens and the operator key, and the internal JWT that vouches for them.

auth-token is the source of truth (its Postgres). The gateway remembers what it learnt for a short, bounded
time (`identity_ttl_seconds`) and asks again in the background before that runs out, so a busy key never
waits; `auth.events` make a revocation immediate on every replica. Because nothing is trusted past that bound
without auth-token's word, a revocation holds across gateway restarts, on new replicas and while Kafka is
down, for temporary tokens as well as keys: the key behind every temporary token is checked the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from hearth_contracts.auth import (
    GATEWAY_SUBJECT,
    PLATFORM_KEY_ID,
    PLATFORM_ORG_ID,
    ROLES,
    SCOPE_INTERNAL_GATEWAY,
    SCOPE_PLATFORM_ADMIN,
    SCOPE_TEMPORARY,
    ApiKeyCreated,
    ApiKeyRevoked,
    plan_limit,
)
from hearth_contracts.envelope import Envelope
from hearth_kit.auth import INTERNAL_TOKEN_HEADER, InternalTokenSigner, Principal
from hearth_kit.logging import get_logger
from hearth_kit.problems import Problem

from hearth_gateway.policy import classify_token

log = get_logger(__name__)

_MAX_CACHE_ENTRIES = 200_000


@dataclass(frozen=True)
class Identity:
    """Who a credential belongs to, and how much it may call."""

    key_id: str
    org_id: str
    role: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    plan: str = "standard"
    rate_limit_per_hour: int | None = 1000  # None: unlimited
    temporary: bool = False
    member_id: str | None = None  # the org member the key belongs to (forwarded as claim `member_id`)

    @property
    def forwarded_scopes(self) -> frozenset[str]:
        """Scopes in the internal JWT: a temporary-token caller is marked as such."""
        return self.scopes | {SCOPE_TEMPORARY} if self.temporary else self.scopes


def unauthorized(detail: str, *, slug: str = "unauthorized", title: str | None = None,
                 error: str | None = "invalid_token") -> Problem:
    """A 401 problem with the RFC 6750 challenge."""
    challenge = 'Bearer realm="hearth"'
    if error:
        challenge += f', error="{error}", error_description="{detail}"'
    return Problem(401, detail, slug=slug, title=title, headers={"WWW-Authenticate": challenge})


def revoked(detail: str = "this API key has been revoked") -> Problem:
    return unauthorized(detail, slug="token-revoked", title="Token Revoked")


def auth_unavailable(detail: str) -> Problem:
    return Problem(503, detail, slug="auth-unavailable", headers={"Retry-After": "1"})


def sha256_hex(secret: str) -> str:
    """How auth-token stores a key: hex SHA-256 of the whole secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


# ---------------------------------------------------------------- a bounded, self-refreshing cache

@dataclass
class _Entry:
    identity: Identity | None  # None: no such key (or revoked)
    refresh_at: float  # past this, served while a background lookup refreshes it
    expires_at: float  # past this, never served


class TrustCache:
    """Answers by key (a secret's hash, or org + key id) that are trusted for a bounded time.

    `get` returns (hit, identity). An entry past half its life is still served while one background lookup
    replaces it; past its life it is a miss, and the caller waits for auth-token (fail closed).
    """

    def __init__(self, *, ttl: float, negative_ttl: float, fetch: Callable[[str], Awaitable[Identity | None]]) -> None:
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._fetch = fetch
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[Identity | None]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    def get(self, key: str, now: float) -> tuple[bool, Identity | None]:
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= now:
            return False, None
        if entry.refresh_at <= now and key not in self._inflight:
            task = asyncio.get_running_loop().create_task(self._refresh(key))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return True, entry.identity

    def put(self, key: str, identity: Identity | None, now: float) -> None:
        if len(self._entries) >= _MAX_CACHE_ENTRIES:
            self._entries = {k: v for k, v in self._entries.items() if v.expires_at > now}
        ttl = self.ttl if identity is not None else self.negative_ttl
        self._entries[key] = _Entry(identity, refresh_at=now + ttl / 2, expires_at=now + ttl)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)

    def drop_key_id(self, key_id: str) -> None:
        stale = [k for k, e in self._entries.items() if e.identity is not None and e.identity.key_id == key_id]
        for k in stale:
            self._entries.pop(k, None)

    def forget_positive(self) -> None:
        self._entries = {k: e for k, e in self._entries.items() if e.identity is None}

    async def load(self, key: str) -> Identity | None:
        """One lookup per key at a time; concurrent callers share its answer (and its failure)."""
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[Identity | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            identity = await self._fetch(key)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._inflight.pop(key, None)
        fut.set_result(identity)
        return identity

    async def _refresh(self, key: str) -> None:
        try:
            await self.load(key)
        except Exception as exc:  # the entry is served until it expires; then callers wait (and may get 503)
            log.warning("background identity refresh failed", error=repr(exc))


# ---------------------------------------------------------------- temporary-token signing keys

class JwksCache:
    """auth-token's signing keys by kid; an unknown kid triggers a refetch, at most every `min_refetch` s."""

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
            raise auth_unavailable("token keys are unavailable right now; retry shortly") from exc
        self._fetched_at = time.monotonic()
        keys: dict[str, jwt.PyJWK] = {}
        for raw in doc.get("keys", []):
            try:
                k = jwt.PyJWK.from_dict(raw)
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
            if k.key_id:
                keys[k.key_id] = k
        self.keys = keys


# ---------------------------------------------------------------- the internal JWT

class InternalTokens:
    """Mints the forwarded internal JWT, re-using one per caller while it has ≥ half its life left."""

    def __init__(self, signer: InternalTokenSigner) -> None:
        self.signer = signer
        self._cache: dict[tuple[str, str, str, frozenset[str], str | None], tuple[bytes, float]] = {}

    def for_identity(self, identity: Identity, now: float) -> bytes:
        cache_key = (identity.org_id, identity.key_id, identity.role, identity.forwarded_scopes, identity.member_id)
        hit = self._cache.get(cache_key)
        if hit is not None and hit[1] > now:
            return hit[0]
        principal = Principal(org_id=identity.org_id, subject=identity.key_id, role=identity.role,
                              scopes=identity.forwarded_scopes, member_id=identity.member_id)
        token = self.signer.mint(principal).encode("latin-1")
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[cache_key] = (token, now + self.signer.ttl / 2)
        return token


# ---------------------------------------------------------------- authentication

_OPERATOR = Identity(key_id=PLATFORM_KEY_ID, org_id=PLATFORM_ORG_ID, role="admin", plan="enterprise",
                     scopes=frozenset({SCOPE_PLATFORM_ADMIN}), rate_limit_per_hour=None)
_GATEWAY = Identity(key_id=GATEWAY_SUBJECT, org_id=PLATFORM_ORG_ID, role="admin",
                    scopes=frozenset({SCOPE_INTERNAL_GATEWAY}))


class Authenticator:
    """`authenticate(token)` → the caller's `Identity`, or a 401 (503 when auth-token cannot be asked)."""

    def __init__(self, *, auth_url: str, tokens: InternalTokens, admin_key: str, plan_limits: dict[str, int | None],
                 ttl: float, negative_ttl: float, lookup_timeout: float, issuer: str, audience: str,
                 jwks_min_refetch: float) -> None:
        self.auth_url = auth_url.rstrip("/")
        self.tokens = tokens
        self.plan_limits = plan_limits
        self.lookup_timeout = lookup_timeout
        self.issuer = issuer
        self.audience = audience
        self._admin_digest = sha256_hex(admin_key) if admin_key else None
        self.by_hash = TrustCache(ttl=ttl, negative_ttl=negative_ttl, fetch=self._lookup_hash)
        self.by_key = TrustCache(ttl=ttl, negative_ttl=negative_ttl, fetch=self._lookup_key)
        self.revoked_keys: set[str] = set()  # from events: refused at once, whatever a cache says
        self.revoked_hashes: set[str] = set()
        self.jwks = JwksCache(f"{self.auth_url}/.well-known/jwks.json", min_refetch=jwks_min_refetch)
        self.events_ready = asyncio.Event()
        self.session: aiohttp.ClientSession | None = None  # set while the gateway runs

    # ------------------------------------------------------------ the call path

    async def authenticate(self, token: str) -> Identity:
        kind = classify_token(token)
        if kind == "malformed":
            raise unauthorized("the bearer token is malformed")
        if kind == "jwt":
            return await self._temporary(token)
        digest = sha256_hex(token)
        if self._admin_digest is not None and hmac.compare_digest(digest, self._admin_digest):
            return _OPERATOR
        if digest in self.revoked_hashes:
            raise revoked()
        hit, identity = self.by_hash.get(digest, time.monotonic())
        if not hit:
            identity = await self.by_hash.load(digest)
        if identity is None:
            raise revoked() if digest in self.revoked_hashes else unauthorized("unknown API key")
        if identity.key_id in self.revoked_keys:
            raise revoked()
        return identity

    async def _temporary(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise unauthorized("the bearer token is malformed") from exc
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise unauthorized("temporary token has no key id")
        key = await self.jwks.key(kid, self._session())
        if key is None:
            raise unauthorized("temporary token signed by an unknown key")
        # Only the algorithm of the key itself: a header naming another (e.g. ES256 on an Ed25519 key) is refused
        # here rather than handed to a verifier that does not expect it.
        if header.get("alg") != key.algorithm_name:
            raise unauthorized(f"temporary token algorithm {header.get('alg')!r} does not match its key")
        try:
            claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=self.audience,
                                issuer=self.issuer, options={"require": ["exp", "sub", "iss", "aud"]})
        except jwt.ExpiredSignatureError as exc:
            raise unauthorized("the temporary token has expired; exchange your API key for a new one",
                               slug="token-expired", title="Token Expired") from exc
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            raise unauthorized(f"invalid temporary token: {exc}") from exc
        org, key_id = claims.get("org"), claims.get("sub")
        if not isinstance(org, str) or not isinstance(key_id, str) or "/" in org or "/" in key_id:
            raise unauthorized("temporary token carries no valid org or key id")
        if key_id in self.revoked_keys:
            raise revoked("the API key behind this token has been revoked")
        # The key behind the token, as auth-token knows it now (role, scopes, plan; revoked or not).
        cache_key = f"{org}/{key_id}"
        hit, identity = self.by_key.get(cache_key, time.monotonic())
        if not hit:
            identity = await self.by_key.load(cache_key)
        if identity is None or identity.key_id in self.revoked_keys:
            raise revoked("the API key behind this token has been revoked")
        return Identity(key_id=identity.key_id, org_id=identity.org_id, role=identity.role, scopes=identity.scopes,
                        plan=identity.plan, rate_limit_per_hour=identity.rate_limit_per_hour, temporary=True,
                        member_id=identity.member_id)

    # ------------------------------------------------------------ asking auth-token

    def _session(self) -> aiohttp.ClientSession:
        assert self.session is not None, "gateway not started"
        return self.session

    async def _lookup_hash(self, digest: str) -> Identity | None:
        return await self._ask(f"{self.auth_url}/internal/v1/api-keys/by-hash/{digest}", digest=digest)

    async def _lookup_key(self, org_and_key: str) -> Identity | None:
        org, _, key_id = org_and_key.partition("/")
        return await self._ask(f"{self.auth_url}/internal/v1/orgs/{org}/api-keys/{key_id}", cache_key=org_and_key)

    async def _ask(self, url: str, *, digest: str | None = None, cache_key: str | None = None) -> Identity | None:
        cache = self.by_hash if digest is not None else self.by_key
        key = digest or cache_key or ""
        headers = {INTERNAL_TOKEN_HEADER: self.tokens.for_identity(_GATEWAY, time.time()).decode("latin-1")}
        try:
            async with self._session().get(url, headers=headers, timeout=aiohttp.ClientTimeout(
                    total=self.lookup_timeout)) as resp:
                if resp.status == 404:
                    cache.put(key, None, time.monotonic())
                    return None
                if resp.status != 200:
                    raise auth_unavailable(f"authentication service answered {resp.status}")
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("api key lookup failed", error=repr(exc))
            raise auth_unavailable("authentication service is unavailable; retry shortly") from exc
        data = body.get("data") or {}
        if data.get("revoked"):
            self.revoke(key_id=str(data.get("key_id")), digest=digest)
            cache.put(key, None, time.monotonic())
            return None
        identity = self.identity_from(data)
        cache.put(key, identity, time.monotonic())
        return identity

    def identity_from(self, data: dict[str, Any]) -> Identity:
        """An identity from auth-token's answer; the limit always from the plan table (one source)."""
        role, org, key_id = data.get("role"), data.get("org_id"), data.get("key_id")
        if role not in ROLES or not isinstance(org, str) or not isinstance(key_id, str):
            raise unauthorized("credential carries no valid org, role or key id")
        plan = str(data.get("plan") or "standard")
        limit = None if (org, key_id) == (PLATFORM_ORG_ID, PLATFORM_KEY_ID) else plan_limit(plan, self.plan_limits)
        member = data.get("member_id")
        return Identity(key_id=key_id, org_id=org, role=role, scopes=frozenset(data.get("scopes") or ()),
                        plan=plan, rate_limit_per_hour=limit, member_id=member if isinstance(member, str) else None)

    # ------------------------------------------------------------ events

    def revoke(self, *, key_id: str, digest: str | None) -> None:
        self.revoked_keys.add(key_id)
        if digest:
            self.revoked_hashes.add(digest)
            self.by_hash.drop(digest)
        self.by_hash.drop_key_id(key_id)
        self.by_key.drop_key_id(key_id)

    def forget(self) -> None:
        """Drop every cached identity (after missing events, auth-token is asked again)."""
        self.by_hash.forget_positive()
        self.by_key.forget_positive()

    def apply_auth_event(self, envelope: Envelope) -> None:
        """Keep the caches in step with auth-token's facts."""
        if envelope.type == ApiKeyRevoked.event_type:
            gone: ApiKeyRevoked = envelope.data_as(ApiKeyRevoked)
            self.revoke(key_id=gone.key_id, digest=gone.secret_sha256)
            log.info("api key revoked", key_id=gone.key_id)
        elif envelope.type == ApiKeyCreated.event_type:
            created: ApiKeyCreated = envelope.data_as(ApiKeyCreated)
            if created.key_id in self.revoked_keys or created.secret_sha256 in self.revoked_hashes:
                return
            identity = self.identity_from({"key_id": created.key_id, "org_id": created.org_id, "role": created.role,
                                           "scopes": created.scopes, "plan": created.plan,
                                           "member_id": created.member_id})
            self.by_hash.put(created.secret_sha256, identity, time.monotonic())
