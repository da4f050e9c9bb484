"""Endpoint secrets sealed at rest with Fernet: a database dump alone cannot forge partners' webhooks."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_SEALED = "fernet:"


class SecretBox:
    """Seals with the first key, opens with any (so keys rotate); without keys stores clear text (dev only)."""

    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None

    def seal(self, secret: str) -> str:
        if self._fernet is None:
            return secret
        return _SEALED + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(_SEALED):
            return stored  # written before encryption was configured (dev)
        if self._fernet is None:
            raise RuntimeError("an endpoint secret is encrypted but HEARTH_WEBHOOKS_SECRET_ENCRYPTION_KEYS is not set")
        try:
            return self._fernet.decrypt(stored[len(_SEALED):].encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError("an endpoint secret cannot be decrypted with the configured keys") from exc

