"""Pure rules: secrets and their hashes, plan configuration, input validation, temporary-token claims."""

from __future__ import annotations

import hashlib
import json
import time

import jwt
import pytest
from hearth_auth_token.config import Settings
from hearth_auth_token.domain import (
    DEFAULT_PLAN_LIMITS,
    SECRET_PREFIX,
    ApiKeyIn,
    OrgIn,
    display_prefix,
    hash_secret,
    is_sha256_hex,
    new_secret,
    parse_plan_limits,
    plans_view,
    secret_matches,
    temporary_token_claims,
)
from hearth_kit.auth import SigningKey, jwks
from pydantic import ValidationError


def test_secrets_are_prefixed_high_entropy_and_unique() -> None:
    made = {new_secret() for _ in range(200)}
    assert len(made) == 200
    for secret in made:
        assert secret.startswith(SECRET_PREFIX)
        assert len(secret) == len(SECRET_PREFIX) + 43  # 32 random bytes, url-safe base64 without padding
        assert display_prefix(secret) == secret[:12]


def test_hash_is_hex_sha256_and_matches_only_its_secret() -> None:
    secret = new_secret()
    digest = hash_secret(secret)
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    assert is_sha256_hex(digest)
    assert secret_matches(secret, digest)
    assert not secret_matches(secret + "x", digest)
    assert not is_sha256_hex(digest.upper())
    assert not is_sha256_hex(digest[:-1])


def test_plan_limits_default_and_merge_partial_overrides() -> None:
    assert parse_plan_limits("{}") == DEFAULT_PLAN_LIMITS
    assert DEFAULT_PLAN_LIMITS == {"standard": 1000, "professional": 5000, "enterprise": None, "test": 5}
    limits = parse_plan_limits('{"test": 2, "enterprise": 100000}')
    assert limits == {"standard": 1000, "professional": 5000, "enterprise": 100000, "test": 2}
    assert parse_plan_limits({"standard": None})["standard"] is None


@pytest.mark.parametrize("raw", ['{"gold": 10}', '{"standard": -1}', '{"standard": "many"}', '{"test": true}',
                                 "[1, 2]", "not json"])
def test_bad_plan_limits_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"plan|limit|JSON"):
        parse_plan_limits(raw)


def test_settings_read_plan_limits_and_signing_keys_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    key = SigningKey.generate("k1")
    monkeypatch.setenv("HEARTH_AUTH_PLAN_LIMITS", '{"standard": 10, "enterprise": null}')
    monkeypatch.setenv("HEARTH_AUTH_SIGNING_KEYS", json.dumps([{"kid": "k1", "pem": key.private_pem()}]))
    monkeypatch.setenv("HEARTH_AUTH_TEMP_TOKEN_TTL_SECONDS", "2")
    settings = Settings()
    assert settings.plan_limits == {"standard": 10, "professional": 5000, "enterprise": None, "test": 5}
    assert [k.kid for k in settings.signing_keys] == ["k1"]
    assert (settings.temp_token_ttl_seconds, settings.port, settings.db_schema) == (2, 8101, "auth")


def test_settings_refuse_an_unknown_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEARTH_AUTH_PLAN_LIMITS", '{"platinum": 1}')
    with pytest.raises(ValidationError, match="unknown plan"):
        Settings()


def test_plans_view_lists_every_plan() -> None:
    view = plans_view(DEFAULT_PLAN_LIMITS)
    assert [p["name"] for p in view] == ["standard", "professional", "enterprise", "test"]
    assert view[2] == {"name": "enterprise", "rate_limit_per_hour": None, "unlimited": True}


def test_org_input_refuses_unknown_plans_and_extra_fields() -> None:
    assert OrgIn(name=" Acme ", plan="professional").name == "Acme"
    with pytest.raises(ValidationError):
        OrgIn.model_validate({"name": "Acme", "plan": "gold"})
    with pytest.raises(ValidationError):
        OrgIn.model_validate({"name": "Acme", "plan": "test", "owner": "x"})


def test_api_key_scopes_are_normalised_and_reserved_ones_refused() -> None:
    key = ApiKeyIn.model_validate({"name": "ci", "role": "manager", "scopes": ["units:read", "buildings:write",
                                                                              "units:read"]})
    assert key.scopes == ["buildings:write", "units:read"]
    for bad in ("platform:admin", "internal:gateway", "token:temporary", "Units:Read", "", "a b"):
        with pytest.raises(ValidationError):
            ApiKeyIn.model_validate({"name": "x", "role": "admin", "scopes": [bad]})
    with pytest.raises(ValidationError):
        ApiKeyIn.model_validate({"name": "x", "role": "owner"})


def _verify(token: str, key: SigningKey, *, leeway: int = 0) -> dict[str, object]:
    jwk_set = jwt.PyJWKSet.from_dict(jwks(key))
    kid = jwt.get_unverified_header(token)["kid"]
    [match] = [k for k in jwk_set.keys if k.key_id == kid]
    claims: dict[str, object] = jwt.decode(token, match.key, algorithms=["EdDSA"], audience="hearth-api",
                                           issuer="hearth-auth", leeway=leeway)
    return claims


def _claims(now: int, ttl: int) -> dict[str, object]:
    return temporary_token_claims(
        key_id="key_1", org_id="org_1", role="manager", scopes=["b", "a"], plan="standard",
        rate_limit_per_hour=1000, issuer="hearth-auth", audience="hearth-api", now=now, ttl_seconds=ttl,
    )


def test_temporary_token_claims_sign_and_verify_with_the_jwks() -> None:
    key = SigningKey.generate("sk_test")
    now = int(time.time())
    token = key.sign(_claims(now, 86_400))
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "sk_test", "typ": "JWT"}
    claims = _verify(token, key)
    assert claims["exp"] == now + 86_400
    assert (claims["sub"], claims["org"], claims["role"], claims["plan"]) == ("key_1", "org_1", "manager", "standard")
    assert (claims["scopes"], claims["rate_limit_per_hour"]) == (["a", "b"], 1000)
    assert str(claims["jti"]).startswith("tok_")


def test_expired_temporary_token_fails_verification() -> None:
    key = SigningKey.generate("sk_test")
    token = key.sign(_claims(int(time.time()) - 100, 10))
    with pytest.raises(jwt.ExpiredSignatureError):
        _verify(token, key)


def test_a_token_from_another_key_fails_verification() -> None:
    token = SigningKey.generate("sk_test").sign(_claims(int(time.time()), 60))
    with pytest.raises(jwt.InvalidSignatureError):
        _verify(token, SigningKey.generate("sk_test"))
