"""The signing keys of temporary tokens: which one signs, which are published in the JWKS.

Two sources. Configured keys (`HEARTH_AUTH_SIGNING_KEYS`): the first signs, all are published, and
rotation is a deployment. Otherwise the `signing_keys` table: the first start creates a key (under an
advisory lock, so replicas agree), `rotate` adds a newer one that signs from then on, and a retired key
stays published until every token it signed has expired. Each replica re-reads the table every few
seconds, so a rotation made by one replica reaches the others' JWKS quickly.

Private keys in the table are sealed with Fernet (`HEARTH_AUTH_KEY_ENCRYPTION_KEYS`): a database dump or
backup alone cannot mint tokens. Rows written without a key-encryption key (dev) stay readable.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from hearth_kit.auth import SigningKey, jwks
from hearth_kit.db import Database
from hearth_kit.errors import Conflict
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger

from hearth_auth_token import repository
from hearth_auth_token.config import Settings

log = get_logger(__name__)

# Extra time a retired key stays published, for clock skew and JWKS caches.
PUBLISH_LEEWAY_SECONDS = 300


@dataclass(frozen=True)
class KeySet:
    """A snapshot: the key that signs now and every key a verifier may still need."""

    signer: SigningKey
    published: tuple[SigningKey, ...]

    def jwks(self) -> dict[str, Any]:
        document: dict[str, Any] = jwks(*self.published)
        return document


_SEALED = "fernet:"


class KeySealer:
    """Encrypts private keys for the table and decrypts them again (MultiFernet: first key seals)."""

    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None

    def seal(self, pem: str) -> str:
        if self._fernet is None:
            return pem
        return _SEALED + self._fernet.encrypt(pem.encode()).decode()

    def unseal(self, stored: str, *, kid: str) -> str:
        if not stored.startswith(_SEALED):
            return stored  # written before encryption was configured
        if self._fernet is None:
            raise RuntimeError(f"signing key {kid} is encrypted but HEARTH_AUTH_KEY_ENCRYPTION_KEYS is not set")
        try:
            return self._fernet.decrypt(stored[len(_SEALED):].encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError(f"signing key {kid} cannot be decrypted with HEARTH_AUTH_KEY_ENCRYPTION_KEYS") from exc


class KeyRing:
    """Loads, caches and rotates the signing keys of one service instance."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sealer = KeySealer(settings.key_encryption_keys)
        self._lock = asyncio.Lock()
        self._current: KeySet | None = None
        self._loaded_at = 0.0
        self.static = bool(settings.signing_keys)
        if self.static:
            keys = tuple(SigningKey.from_pem(k.pem, k.kid) for k in settings.signing_keys)
            self._current = KeySet(signer=keys[0], published=keys)

    @property
    def _publish_window(self) -> int:
        return self._settings.temp_token_ttl_seconds + PUBLISH_LEEWAY_SECONDS

    async def current(self, db: Database) -> KeySet:
        """The key set, re-read from the table when the cached copy is older than the refresh interval."""
        if self.static:
            assert self._current is not None
            return self._current
        if self._current is not None and not self._stale():
            return self._current
        async with self._lock:
            if self._current is None or self._stale():
                await self._load(db)
        assert self._current is not None
        return self._current

    def _stale(self) -> bool:
        return time.monotonic() - self._loaded_at >= self._settings.signing_keys_refresh_seconds

    async def _load(self, db: Database) -> None:
        async with db.transaction(org_id=None) as conn:
            rows = await repository.published_signing_keys(conn, window_seconds=self._publish_window)
            if not any(r["retired_at"] is None for r in rows):
                await repository.lock_signing_keys(conn)
                rows = await repository.published_signing_keys(conn, window_seconds=self._publish_window)
                if not any(r["retired_at"] is None for r in rows):
                    key = SigningKey.generate(new_id("sk"))
                    await repository.insert_signing_key(conn, kid=key.kid,
                                                        private_pem=self._sealer.seal(key.private_pem()))
                    log.info("generated the first signing key", kid=key.kid)
                    rows = await repository.published_signing_keys(conn, window_seconds=self._publish_window)
        self._current = _key_set(rows, self._sealer)
        self._loaded_at = time.monotonic()

    async def rotate(self, db: Database) -> tuple[SigningKey, KeySet]:
        """Add a new signing key that signs from now on; the previous ones retire but stay published."""
        if self.static:
            raise Conflict("signing keys come from configuration (HEARTH_AUTH_SIGNING_KEYS); rotate them "
                           "by deploying a new first key", code="signing-keys-configured")
        key = SigningKey.generate(new_id("sk"))
        async with self._lock:
            async with db.transaction(org_id=None) as conn:
                await repository.lock_signing_keys(conn)
                await repository.retire_signing_keys(conn)
                await repository.insert_signing_key(conn, kid=key.kid, private_pem=self._sealer.seal(key.private_pem()))
                rows = await repository.published_signing_keys(conn, window_seconds=self._publish_window)
            self._current = _key_set(rows, self._sealer)
            self._loaded_at = time.monotonic()
        log.info("rotated the signing key", kid=key.kid)
        return key, self._current


def _key_set(rows: list[Any], sealer: KeySealer) -> KeySet:
    """Rows newest first → signer = newest active key; published = all rows given."""
    keys = [(SigningKey.from_pem(sealer.unseal(r["private_pem"], kid=r["kid"]), r["kid"]), r["retired_at"] is None)
            for r in rows]
    signer = next(k for k, active in keys if active)
    return KeySet(signer=signer, published=tuple(k for k, _ in keys))
