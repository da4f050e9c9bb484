"""Vendor credentials sealed at rest with Fernet (the first key seals, every key unseals: rotation)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_PREFIX = "fernet:"


class CredentialSealer:
    """Seals permanent and temporary vendor tokens before they reach the database."""

    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def seal(self, secret: str) -> str:
        return _PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def unseal(self, stored: str) -> str:
        if not stored.startswith(_PREFIX):
            raise ValueError("stored vendor credential is not sealed")
        try:
            return self._fernet.decrypt(stored[len(_PREFIX):].encode()).decode()
        except InvalidToken as exc:
            raise ValueError("vendor credential cannot be unsealed with HEARTH_ACCESS_CREDENTIAL_KEYS") from exc
