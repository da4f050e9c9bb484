"""A key that belongs to a member: the forwarded internal JWT names the member (claim `member_id`)."""

from __future__ import annotations

import json

from hearth_gateway.identity import Identity, InternalTokens
from hearth_kit.auth import InternalTokenSigner, InternalTokenVerifier, SigningKey, jwks


def test_member_id_rides_in_the_internal_token() -> None:
    signer = InternalTokenSigner(SigningKey.generate("k1"))
    verifier = InternalTokenVerifier(json.dumps(jwks(signer.key)))
    tokens = InternalTokens(signer)
    with_member = Identity(key_id="key_1", org_id="org_1", role="technician", member_id="mem_1")
    without = Identity(key_id="key_1", org_id="org_1", role="technician")
    assert verifier.verify(tokens.for_identity(with_member, 0.0).decode("latin-1")).member_id == "mem_1"
    assert verifier.verify(tokens.for_identity(without, 0.0).decode("latin-1")).member_id is None
