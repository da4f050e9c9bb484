"""Access code rules: what a code may look like, how one is generated, how per-lock states summarise."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

CodeState = Literal["new", "activation_pending", "activation_pending_with_failure", "activated",
                    "deactivation_pending", "deactivation_pending_with_failure", "deactivated"]
CODE_STATES: tuple[CodeState, ...] = (
    "new", "activation_pending", "activation_pending_with_failure", "activated",
    "deactivation_pending", "deactivation_pending_with_failure", "deactivated")
# The code's own status is the state of its most troubled lock (a failure outranks pending, pending outranks done).
_SUMMARY_ORDER: tuple[CodeState, ...] = (
    "activation_pending_with_failure", "deactivation_pending_with_failure", "activation_pending",
    "deactivation_pending", "new", "activated", "deactivated")


@dataclass(frozen=True)
class CodeRules:
    """Which weak codes are refused (configurable per deployment)."""

    no_all_same_digits: bool = True
    no_simple_runs: bool = True  # 1234, 4321, 0123 ... ascending or descending by one
    min_unique_digits: int = 2


def weakness(code: str, rules: CodeRules) -> str | None:
    """Why `code` is too weak, or None."""
    if rules.no_all_same_digits and len(set(code)) == 1:
        return "all digits are the same"
    if rules.no_simple_runs and len(code) > 2:
        steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(code)}
        if steps in ({1}, {9}):
            return "digits form a simple run"
    if len(set(code)) < rules.min_unique_digits:
        return f"fewer than {rules.min_unique_digits} different digits"
    return None


def format_problem(code: str) -> str | None:
    """Why the vendor cannot take `code` at all, or None: 4..8 digits, no leading zero (sent as a number)."""
    if not code.isascii() or not code.isdigit():
        return "a code is digits only"
    if not 4 <= len(code) <= 8:
        return "a code has 4 to 8 digits"
    if code.startswith("0"):
        return "the lock vendor takes codes as numbers, so a leading zero would be lost"
    return None


def generate(length: int, rules: CodeRules, taken: Iterable[str] = ()) -> str:
    """A random code of `length` digits that passes the rules and is not in `taken`."""
    used = set(taken)
    while True:
        code = str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(length - 1))
        if code not in used and weakness(code, rules) is None:
            return code


def summarise(states: Iterable[str]) -> CodeState:
    """The code's status from its per-lock states (`new` when it targets no lock yet)."""
    present = set(states)
    for state in _SUMMARY_ORDER:
        if state in present:
            return state
    return "new"


def pending_state(*, active: bool, failed: bool) -> CodeState:
    """The per-lock state while a change is on its way to the lock."""
    if active:
        return "activation_pending_with_failure" if failed else "activation_pending"
    return "deactivation_pending_with_failure" if failed else "deactivation_pending"


def retry_delay(attempts: int, *, base: float, cap: float) -> float:
    """Seconds before the next try after `attempts` failures (exponential, capped)."""
    return float(min(base * (2 ** max(0, attempts - 1)), cap))
