"""Secrets sealed at rest with Fernet (`cryptography`): the first key seals, every key opens.

Rotation: put a new key in front, keep the old ones until every row was re-sealed. A database dump alone
then reveals no signing key, partner secret or vendor token. Sealed values carry a `fernet:` prefix, so a
service that ran without keys in dev can still read what it stored in clear then.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SEALED_PREFIX = "fernet:"


class SealingError(RuntimeError):
    """A stored secret cannot be opened with the configured keys (or there are none)."""


class Sealer:
    """Seals and opens one kind of secret; `setting` names the variable holding the keys (for errors)."""

    def __init__(self, keys: Sequence[str], *, setting: str, clear_text_allowed: bool = True) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None
        self._setting = setting
        # Without keys, dev may store clear text; a service that always has keys refuses clear rows.
        self._clear_text_allowed = clear_text_allowed
        if self._fernet is None and not clear_text_allowed:
            raise ValueError(f"{setting} needs at least one Fernet key")

    def seal(self, secret: str) -> str:
        """The value to store."""
        if self._fernet is None:
            return secret
        return SEALED_PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str, *, what: str = "a secret") -> str:
        """The secret a stored value holds."""
        if not stored.startswith(SEALED_PREFIX):
            if self._clear_text_allowed:
                return stored  # written before keys were configured (dev)
            raise SealingError(f"{what} is stored unsealed")
        if self._fernet is None:
            raise SealingError(f"{what} is sealed but {self._setting} is not set")
        try:
            return self._fernet.decrypt(stored[len(SEALED_PREFIX):].encode()).decode()
        except InvalidToken as exc:
            raise SealingError(f"{what} cannot be opened with {self._setting}") from exc
