"""The internal JWT: the gateway signs who is calling; every service verifies it itself.

EdDSA (Ed25519) keys identified by `kid`; verifiers take a JWKS (inline JSON or a URL), so keys can
rotate: a new key is added to the set before it signs, the old one stays until its tokens expire.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, Request
from jwt.algorithms import OKPAlgorithm

from hearth_kit.problems import Problem

Role = Literal["admin", "manager", "technician", "leasing_agent", "accountant", "partner"]
ROLES: tuple[Role, ...] = ("admin", "manager", "technician", "leasing_agent", "accountant", "partner")
READ_ONLY_ROLES: frozenset[str] = frozenset({"partner"})
INTERNAL_TOKEN_HEADER = "x-hearth-internal-token"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the gateway vouched for it."""

    org_id: str
    subject: str
    role: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    member_id: str | None = None  # the org member (mem_...) the key belongs to, if any

    @property
    def can_write(self) -> bool:
        return self.role not in READ_ONLY_ROLES


class SigningKey:
    """An Ed25519 private key with its `kid`."""

    def __init__(self, private_key: Ed25519PrivateKey, kid: str) -> None:
        self.private_key = private_key
        self.kid = kid

    @classmethod
    def generate(cls, kid: str) -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), kid)

    @classmethod
    def from_pem(cls, pem: str, kid: str) -> SigningKey:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("signing key must be Ed25519")
        return cls(key, kid)

    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})


def jwks(*keys: SigningKey) -> dict[str, Any]:
    """A JWK Set document for these keys' public halves."""
    return {"keys": [k.public_jwk() for k in keys]}


class InternalTokenSigner:
    """Mints the short-lived internal JWT the gateway forwards (also the test signer)."""

    def __init__(self, key: SigningKey, *, issuer: str = "hearth-gateway",
                 audience: str = "hearth-internal", ttl_seconds: int = 60) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl_seconds

    def mint(self, principal: Principal) -> str:
        now = int(time.time())
        return self.key.sign({
            "iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + self.ttl,
            "sub": principal.subject, "org": principal.org_id, "role": principal.role,
            "scopes": sorted(principal.scopes),
            **({"member_id": principal.member_id} if principal.member_id else {}),
        })


class InternalTokenVerifier:
    """Verifies internal JWTs against a JWKS given inline (JSON) or as an http(s) URL.

    A verified token is remembered until it expires: the gateway re-uses one token per caller for half its
    life, so most requests bring a token already checked, and the Ed25519 signature check (the largest
    share of a simple GET's CPU in profiles) is skipped. A token string can only ever carry the claims it
    was signed with, so the cache answers exactly what verification would, until `exp`.
    """

    _CACHE_MAX = 10_000

    def __init__(self, jwks_source: str, *, issuer: str = "hearth-gateway", audience: str = "hearth-internal") -> None:
        if not jwks_source:
            raise ValueError("no JWKS configured: refusing to run without token verification")
        self.issuer = issuer
        self.audience = audience
        self._client: jwt.PyJWKClient | None = None
        self._static: dict[str, Any] = {}
        self._verified: dict[str, tuple[Principal, float]] = {}
        if jwks_source.startswith(("http://", "https://")):
            self._client = jwt.PyJWKClient(jwks_source, cache_keys=True, lifespan=300)
        else:
            self._static = {k.key_id: k for k in jwt.PyJWKSet.from_json(jwks_source).keys if k.key_id}

    def _key_for(self, token: str) -> jwt.PyJWK:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token)
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str) or kid not in self._static:
            raise jwt.InvalidTokenError("unknown key id")
        return self._static[kid]  # type: ignore[no-any-return]

    def verify(self, token: str) -> Principal:
        """The principal in a valid token; raises `Problem(401)` otherwise. With a JWKS URL, a key miss
        fetches it with blocking I/O: from async code use `verify_async`."""
        remembered = self._remembered(token)
        if remembered is not None:
            return remembered
        try:
            key = self._key_for(token)
            # The key decides the algorithm, never the token's header: a header saying ES256 over an
            # Ed25519 key made PyJWT raise TypeError (a 500) instead of refusing the token.
            claims = jwt.decode(
                token, key.key, algorithms=[key.algorithm_name], audience=self.audience,
                issuer=self.issuer, options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Problem(401, f"invalid internal token: {exc}", slug="unauthorized",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc
        role = claims.get("role")
        if role not in ROLES or not isinstance(claims.get("org"), str):
            raise Problem(401, "internal token lacks org or role", slug="unauthorized")
        principal = Principal(org_id=claims["org"], subject=claims["sub"], role=role,
                              scopes=frozenset(claims.get("scopes") or ()),
                              member_id=claims.get("member_id") if isinstance(claims.get("member_id"), str) else None)
        if len(self._verified) >= self._CACHE_MAX:
            self._verified.clear()
        self._verified[token] = (principal, float(claims["exp"]))
        return principal

    def _remembered(self, token: str) -> Principal | None:
        hit = self._verified.get(token)
        return hit[0] if hit is not None and hit[1] > time.time() else None

    async def verify_async(self, token: str) -> Principal:
        """`verify` without blocking the event loop (a JWKS URL fetch runs in a thread)."""
        remembered = self._remembered(token)
        if remembered is not None:
            return remembered
        if self._client is not None:
            return await asyncio.to_thread(self.verify, token)
        return self.verify(token)


async def principal_from_request(request: Request) -> Principal:
    """FastAPI dependency: the verified caller. There is no unauthenticated path into a service.

    `async` like every kit dependency: FastAPI runs a plain `def` one in its thread pool, a thread hop and
    GIL hand-off on every request (it showed as a large share of a GET's CPU).
    """
    verifier: InternalTokenVerifier = request.app.state.verifier
    token = request.headers.get(INTERNAL_TOKEN_HEADER)
    if not token:
        raise Problem(401, "missing internal token (call through the gateway)", slug="unauthorized",
                      headers={"WWW-Authenticate": "Bearer"})
    principal = await verifier.verify_async(token)
    request.state.org_id = principal.org_id  # for the edge's request log line
    return principal


CurrentPrincipal = Annotated[Principal, Depends(principal_from_request)]
