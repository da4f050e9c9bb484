"""The push signature: made and checked the same way on both sides; anything off is refused."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from hearth_access.service.automations import start_of_day
from hearth_access.vendor.push import sign, verify

BODY = b'[{"lock-event-id": "e1"}]'


def test_a_fresh_signature_by_the_same_secret_verifies() -> None:
    assert verify("secret", BODY, sign("secret", BODY))


def test_anything_off_is_refused() -> None:
    now = int(time.time())
    assert not verify("secret", BODY, None)
    assert not verify("secret", BODY, "")
    assert not verify("secret", BODY, sign("other", BODY))
    assert not verify("secret", BODY + b" ", sign("secret", BODY))
    assert not verify("secret", BODY, sign("secret", BODY, at=now - 301))
    assert not verify("secret", BODY, sign("secret", BODY, at=now + 301))
    assert not verify("secret", BODY, "t=notanumber,v1=00")
    assert not verify("secret", BODY, f"t={now}")
    assert verify("secret", BODY, sign("secret", BODY, at=now - 299))


def test_a_termination_day_starts_at_local_midnight_across_dst() -> None:
    # New York: EDT (UTC-4) in July, EST (UTC-5) in January, and the day clocks go forward
    assert start_of_day(date(2026, 7, 1), "America/New_York") == datetime(2026, 7, 1, 4, tzinfo=UTC)
    assert start_of_day(date(2026, 1, 15), "America/New_York") == datetime(2026, 1, 15, 5, tzinfo=UTC)
    assert start_of_day(date(2026, 3, 8), "America/New_York") == datetime(2026, 3, 8, 5, tzinfo=UTC)
