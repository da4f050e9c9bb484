"""Secrets at rest: sealed with the first key, opened with any, clear text only where allowed."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from hearth_kit.sealing import Sealer, SealingError

K1, K2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_a_new_first_key_still_opens_rows_sealed_with_the_old_one() -> None:
    sealed = Sealer([K1], setting="X_KEYS").seal("whsec_abc")
    assert sealed.startswith("fernet:") and "whsec_abc" not in sealed
    assert Sealer([K2, K1], setting="X_KEYS").open(sealed) == "whsec_abc"
    resealed = Sealer([K2, K1], setting="X_KEYS").seal("whsec_abc")
    assert Sealer([K2], setting="X_KEYS").open(resealed) == "whsec_abc"


def test_a_wrong_or_missing_key_names_the_setting() -> None:
    sealed = Sealer([K1], setting="X_KEYS").seal("s")
    with pytest.raises(SealingError, match="cannot be opened with X_KEYS"):
        Sealer([K2], setting="X_KEYS").open(sealed)
    with pytest.raises(SealingError, match="X_KEYS is not set"):
        Sealer([], setting="X_KEYS").open(sealed, what="signing key k1")


def test_clear_text_only_where_the_service_allows_it() -> None:
    assert Sealer([], setting="X_KEYS").seal("plain") == "plain"
    assert Sealer([K1], setting="X_KEYS").open("plain") == "plain"  # stored before keys were configured
    strict = Sealer([K1], setting="X_KEYS", clear_text_allowed=False)
    with pytest.raises(SealingError, match="stored unsealed"):
        strict.open("plain")
    with pytest.raises(ValueError, match="needs at least one Fernet key"):
        Sealer([], setting="X_KEYS", clear_text_allowed=False)
