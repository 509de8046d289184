"""The built-in rules as templates of rules written without code (pure: no I/O).

A risk manager starts a new rule from "Large single transaction" and finds the form filled
with the expression that means the same at the built-in rule's current settings; from there
the rule is theirs to change. Watch-list screening of counterparty names is not an
aggregate: it has no template and stays a built-in rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aml.rule_policy import RULE_SCHEMAS, rule_title


@dataclass(frozen=True)
class Template:
    name: str  # the built-in rule it mirrors, or "peer_senders" for the example
    title: str
    expression: str
    severity: str
    score: int
    note: str  # where the expression differs from the built-in rule


def _large(c: Any) -> str:
    return f'amount() >= {c.threshold_eur} or amount(channel="cash") >= {c.cash_threshold_eur}'


def _structuring(c: Any) -> str:
    low = c.threshold_eur * (100 - c.band_percent) // 100
    return (
        f'count(days={c.window_days}, direction="in", channel="cash", min_amount={low}, '
        f"max_amount={c.threshold_eur - 1}) >= {c.min_deposits}"
    )


def _velocity(c: Any) -> str:
    window = f"sum(hours={c.window_hours})"
    return (
        f"{window} >= {c.multiplier} * baseline({window}, days={c.baseline_days}) "
        f"and {window} >= {c.min_window_eur}"
    )


def _country(c: Any) -> str:
    risk = "medium" if c.include_medium_risk else "high"
    return f'amount(country_risk="{risk}") >= {max(c.min_amount_eur, 1)}'


def _rapid(c: Any) -> str:
    money_in = f'sum(hours={c.window_hours}, direction="in")'
    return (
        f"{money_in} >= {c.min_in_eur} and "
        f'sum(hours={c.window_hours}, direction="out") >= {c.out_percent / 100:g} * {money_in}'
    )


def _dormant(c: Any) -> str:
    days = min(c.dormant_days, 364)
    return f"count(days={days}) == 1 and count(days=365) >= 2 and amount() >= {c.min_amount_eur}"


def _fan_in(c: Any) -> str:
    return (
        f'distinct_counterparties(days={c.window_days}, direction="in") >= {c.min_senders} '
        f'and sum(days={c.window_days}, direction="in") >= {c.min_total_eur}'
    )


def _new_counterparty(c: Any) -> str:
    return (
        f'count(days=365, counterparty="same") == 1 and count(days={max(c.min_history_days, 1)}) '
        f">= 2 and amount() >= {c.min_amount_eur}"
    )


BUILDERS: dict[str, tuple[Callable[[Any], str], str, int, str]] = {
    "large_transaction": (_large, "medium", 40, ""),
    "structuring": (_structuring, "high", 70, ""),
    "velocity": (_velocity, "medium", 50, "The baseline is the average over the period before."),
    "high_risk_country": (_country, "medium", 50, "Prohibited and high-risk countries alike."),
    "rapid_movement": (_rapid, "high", 60, ""),
    "dormant_account": (
        _dormant,
        "medium",
        40,
        "Dormancy is read within the last year: no other transaction in the window.",
    ),
    "fan_in": (_fan_in, "medium", 50, ""),
    "new_counterparty": (
        _new_counterparty,
        "low",
        30,
        "A counterparty is new when it is the first in a year with it.",
    ),
}

PEER_EXAMPLE = Template(
    name="peer_senders",
    title="Many senders, far above the segment",
    expression=(
        'distinct_counterparties(days=60, direction="in") >= 8 and '
        'sum(days=60, direction="in") >= 3 * peer_median(sum(days=60, direction="in"))'
    ),
    severity="high",
    score=70,
    note="An example: absolute and relative thresholds together.",
)


def templates(configs: dict[str, Any]) -> list[Template]:
    """One template per built-in rule (at its current settings, `configs` by rule name)."""
    out = [PEER_EXAMPLE]
    for name, (build, severity, score, note) in BUILDERS.items():
        config = configs.get(name) or RULE_SCHEMAS[name]()
        out.append(Template(name, rule_title(name), build(config), severity, score, note))
    return out
