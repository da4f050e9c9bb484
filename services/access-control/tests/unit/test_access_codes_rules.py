"""Code rules: format, weak codes, generation, the code's status from its per-lock states, lock facts."""

from __future__ import annotations

import pytest
from hearth_access.domain.codes import CodeRules, format_problem, generate, retry_delay, summarise, weakness
from hearth_access.domain.locks import Observation, method_of, observe

RULES = CodeRules()


@pytest.mark.parametrize(("code", "problem"), [
    ("4821", None), ("12345678", None), ("123", "4 to 8"), ("123456789", "4 to 8"), ("12a4", "digits"),
    ("0123", "leading zero"), ("١٢٣٤", "digits"),
])
def test_format(code: str, problem: str | None) -> None:
    found = format_problem(code)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize(("code", "weak"), [
    ("1111", True), ("1234", True), ("4321", True), ("7890", True), ("2580", False), ("1357", False),
    ("4821", False), ("1212", False),
])
def test_weak_codes(code: str, weak: bool) -> None:
    assert (weakness(code, RULES) is not None) is weak


def test_rules_can_be_relaxed() -> None:
    assert weakness("1111", CodeRules(no_all_same_digits=False, min_unique_digits=1)) is None
    assert weakness("1234", CodeRules(no_simple_runs=False)) is None


def test_generated_codes_pass_the_rules_and_avoid_taken() -> None:
    for length in (4, 6, 8):
        code = generate(length, RULES, taken={"4821"})
        assert len(code) == length and format_problem(code) is None and weakness(code, RULES) is None


@pytest.mark.parametrize(("states", "summary"), [
    ([], "new"), (["activated", "activated"], "activated"), (["activated", "activation_pending"], "activation_pending"),
    (["activated", "activation_pending_with_failure"], "activation_pending_with_failure"),
    (["deactivated", "deactivation_pending"], "deactivation_pending"), (["deactivated"], "deactivated"),
])
def test_summary(states: list[str], summary: str) -> None:
    assert summarise(states) == summary


def test_retry_delay_is_bounded() -> None:
    assert [retry_delay(n, base=1, cap=10) for n in (1, 2, 3, 4, 5, 9)] == [1, 2, 4, 8, 10, 10]


@pytest.mark.parametrize(("vendor", "hearth"), [("keypad", "keypad"), ("api", "app"), ("portal", "app"),
                                                ("manual", "manual"), (None, "unknown"), ("zzz", "unknown")])
def test_methods(vendor: str | None, hearth: str) -> None:
    assert method_of(vendor) == hearth


def test_observe_transitions() -> None:
    t = observe(previous_state="locked", previous_online=True, previous_battery=50,
                seen=Observation("unknown", 15, 45), offline_after_minutes=30, battery_low_pct=20)
    assert t.went_offline and not t.came_online and t.battery_low and t.state == "unknown"
    t = observe(previous_state="jammed", previous_online=False, previous_battery=15,
                seen=Observation("unknown", 14, 0), offline_after_minutes=30, battery_low_pct=20)
    assert t.came_online and not t.battery_low and t.state == "jammed"
    t = observe(previous_state="jammed", previous_online=True, previous_battery=15,
                seen=Observation("locked", 14, 0), offline_after_minutes=30, battery_low_pct=20)
    assert t.state == "locked"
