"""Pure rules: signatures (spec vector + reference library), patterns, retry timing, addresses, URLs."""

from __future__ import annotations

import ipaddress
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hearth_webhooks import domain
from hearth_webhooks.config import SVIX_RETRY_SCHEDULE, Settings
from hearth_webhooks.sender import BlockedAddress, SafeResolver
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOOPBACK = domain.parse_networks(["127.0.0.0/8"])


def test_the_specifications_published_vector() -> None:
    signature = domain.sign(secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
                            timestamp=1614265330, body=b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_reference_library_verifies_both_signatures_of_a_rotation() -> None:
    old, new = domain.new_secret(), domain.new_secret()
    now = int(datetime.now(UTC).timestamp())
    body = b'{"type": "hearth.lease.activated.v1"}'
    header = domain.signature_header(secrets_=[new, old], msg_id="msg_1", timestamp=now, body=body)
    assert len(header.split(" ")) == 2
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": header}
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "hearth.lease.activated.v1"}
    with pytest.raises(WebhookVerificationError):
        Webhook(domain.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):  # a changed body no longer matches
        Webhook(new).verify(body + b" ", headers)


def test_secrets_have_the_standard_shape() -> None:
    secret = domain.new_secret()
    assert secret.startswith("whsec_")
    assert len(domain._key(secret)) == 32
    assert secret != domain.new_secret()


KNOWN = ["hearth.lease.activated.v1", "hearth.lease.ended.v1", "hearth.alert.raised.v1"]


@pytest.mark.parametrize(("pattern", "event_type", "matches"), [
    ("*", "hearth.lease.ended.v1", True),
    ("hearth.lease.*", "hearth.lease.ended.v1", True),
    ("hearth.lease.*", "hearth.leases.ended.v1", False),
    ("hearth.lease.*", "hearth.alert.raised.v1", False),
    ("hearth.lease.ended.v1", "hearth.lease.ended.v1", True),
    ("hearth.lease.ended.v1", "hearth.lease.ended.v2", False),
    ("hearth.*", "hearth.alert.raised.v1", True),
])
def test_pattern_matching(pattern: str, event_type: str, matches: bool) -> None:
    assert domain.pattern_matches(pattern, event_type) is matches


@pytest.mark.parametrize(("patterns", "problem"), [
    (["hearth.lease.*"], None),
    (["*"], None),
    (["hearth.lease.activated.v1", "hearth.alert.*"], None),
    ([], "at least one"),
    (["hearth.nothing.*"], "matches no event type"),
    (["hearth.lease.activated.v9"], "matches no event type"),
    (["hearth.*.v1"], "is not an event type"),
    (["HEARTH.LEASE.*"], "is not an event type"),
    (["hearth.lease.**"], "is not an event type"),
    (["a" * 300], "is not an event type"),
])
def test_pattern_problems(patterns: list[str], problem: str | None) -> None:
    problems = domain.pattern_problems(patterns, KNOWN)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_subscribable_types_cover_facts_and_alerts_but_not_readings_or_commands() -> None:
    types = domain.subscribable_types()
    assert "hearth.alert.raised.v1" in types
    assert "hearth.lease.activated.v1" in types
    assert "hearth.webhook_endpoint.disabled.v1" in types
    names = {t.name for t in domain.consumed_topics()}
    assert "telemetry.alerts" in names and "property.events" in names and "webhooks.events" in names
    assert "telemetry.readings" not in names and "access.commands" not in names


def _delay(failures: int, outcome: domain.Outcome, schedule: Any = SVIX_RETRY_SCHEDULE, jitter: float = 0.2,
           seed: int = 1) -> float | None:
    return domain.retry_delay(failures=failures, schedule=schedule, jitter=jitter, outcome=outcome,
                              max_retry_after=86_400, rng=random.Random(seed))


def test_retries_follow_the_svix_schedule_within_the_jitter() -> None:
    failed = domain.Outcome(500)
    for n, pause in enumerate(SVIX_RETRY_SCHEDULE, start=1):
        for seed in range(20):
            delay = _delay(n, failed, seed=seed)
            assert delay is not None
            assert pause * 0.8 <= delay <= pause * 1.2
    assert _delay(len(SVIX_RETRY_SCHEDULE) + 1, failed) is None  # 8 attempts in all, then given up


def test_jitter_spreads_retries() -> None:
    assert len({_delay(1, domain.Outcome(500), seed=s) for s in range(10)}) > 1
    assert _delay(1, domain.Outcome(500), jitter=0) == 5.0


@pytest.mark.parametrize(("status", "retry_after", "expected"), [
    (429, 120.0, 120.0), (503, 120.0, 120.0), (500, 120.0, 5.0), (429, 1.0, 5.0), (429, 10**9, 86_400.0)])
def test_retry_after_is_honoured_on_429_and_503(status: int, retry_after: float, expected: float) -> None:
    assert _delay(1, domain.Outcome(status, retry_after), jitter=0) == expected


def test_410_stops_retrying() -> None:
    assert _delay(1, domain.Outcome(410)) is None


@pytest.mark.parametrize("status", [None, 301, 302, 400, 404, 500])
def test_only_2xx_succeeds(status: int | None) -> None:
    assert not domain.Outcome(status).succeeded
    assert domain.Outcome(204).succeeded


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert domain.parse_retry_after("30") == 30.0
    assert domain.parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=now) == 60.0
    assert domain.parse_retry_after("soon") is None
    assert domain.parse_retry_after(None) is None


def test_auto_disable_after_five_days_of_failing() -> None:
    now = datetime.now(UTC)
    five_days = 5 * 86_400
    assert domain.should_disable_for_failing(failing_since=now - timedelta(days=5, seconds=1), now=now,
                                             after_seconds=five_days)
    assert not domain.should_disable_for_failing(failing_since=now - timedelta(days=4), now=now,
                                                 after_seconds=five_days)
    assert not domain.should_disable_for_failing(failing_since=None, now=now, after_seconds=five_days)


@pytest.mark.parametrize(("address", "allowed"), [
    ("93.184.216.34", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("0.0.0.0", False),  # noqa: S104, ("224.0.0.1", False), ("240.0.0.1", False),
    ("100.64.0.1", False), ("::1", False), ("fe80::1", False), ("fc00::1", False), ("ff02::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False), ("not an ip", False)])
def test_address_matrix(address: str, allowed: bool) -> None:
    assert domain.address_allowed(address) is allowed


def test_allowlist_lets_the_operators_networks_through() -> None:
    assert domain.address_allowed("127.0.0.1", LOOPBACK)
    assert not domain.address_allowed("10.0.0.1", LOOPBACK)
    assert domain.address_allowed("10.0.0.1", (ipaddress.ip_network("10.0.0.0/8"),))


@pytest.mark.parametrize(("url", "allow_http", "problem"), [
    ("https://partner.example/hooks", False, None),
    ("http://partner.example/hooks", True, None),
    ("http://partner.example/hooks", False, "https"),
    ("ftp://partner.example/x", True, "https"),
    ("https://user:pw@partner.example/", False, "credentials"),
    ("https:///nohost", False, "no host"),
    ("https://partner.example:99999/", False, "not a valid URL"),
    ("https://partner.example/a b", False, "whitespace"),
    ("https://partner.example/\x00", False, "control"),
    ("https://x.example/" + "a" * 3000, False, "longer"),
])
def test_url_shapes(url: str, allow_http: bool, problem: str | None) -> None:
    found = domain.url_problem(url, allow_http=allow_http)
    assert (found is None) if problem is None else (found is not None and problem in found), found


def _fake_dns(*addresses: str) -> Any:
    async def lookup(host: str, port: int) -> list[str]:
        return list(addresses)
    return lookup


async def test_connect_time_resolver_refuses_names_pointing_inside() -> None:
    with pytest.raises(BlockedAddress):
        await SafeResolver((), _fake_dns("127.0.0.1")).resolve("rebound.example", 443)
    with pytest.raises(BlockedAddress):
        await SafeResolver((), _fake_dns("10.0.0.7", "169.254.169.254")).resolve("rebound.example", 443)
    mixed = await SafeResolver((), _fake_dns("10.0.0.7", "93.184.216.34")).resolve("mixed.example", 443)
    assert mixed == ["93.184.216.34"]  # only the public address is ever dialled
    assert await SafeResolver(LOOPBACK, _fake_dns("127.0.0.1")).resolve("localhost", 80) == ["127.0.0.1"]
    # an address literal is judged as it is, without a lookup
    with pytest.raises(BlockedAddress):
        await SafeResolver((), _fake_dns("93.184.216.34")).resolve("127.0.0.1", 80)
    assert await SafeResolver(LOOPBACK, _fake_dns()).resolve("127.0.0.2", 80) == ["127.0.0.2"]


def test_prod_refuses_to_start_without_an_encryption_key() -> None:
    with pytest.raises(ValueError, match="SECRET_ENCRYPTION_KEYS"):
        Settings(environment="prod", database_url="postgresql://u:p@db/h", internal_jwks="{}")
    with pytest.raises(ValueError, match="Fernet"):
        Settings(secret_encryption_keys=["not-a-key"])
