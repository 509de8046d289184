"""An AML case's priority: a score of its alerts and its customer's risk, with the reasons.

The score (0-100) adds points for what makes a case worth looking at first:

- the most severe alert (high 25, medium 12, low 4);
- the highest rule score an alert carries (a network typology's or an expression rule's
  0-100 score, a quarter of it: up to 25);
- how many alerts (2 per alert after the first, up to 10);
- the money involved (the distinct transactions the alerts name, in EUR: 1 000 +3,
  5 000 +6, 25 000 +10, 100 000 +15);
- the reach of a network pattern (3 per account it passes through, up to 15);
- the customer's risk (high 20, medium 8).

A score of `HIGH_FROM` or more makes the case high priority, below it normal. Urgent stays
what it was: a missed SAR deadline or an escalation (casework.priority), never a score. The
case keeps the score and each factor's points in words, shown on its page; the queue sorts
by priority, then score.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aml.engines.monitoring_data import eur

HIGH_FROM = 45
SEVERITY_POINTS = {"high": 25, "medium": 12, "low": 4}
RULE_SCORE_SHARE = Decimal("0.25")
POINTS_PER_EXTRA_ALERT, MAX_COUNT_POINTS = 2, 10
AMOUNT_STEPS: tuple[tuple[int, int], ...] = ((100_000, 15), (25_000, 10), (5_000, 6), (1_000, 3))
POINTS_PER_ACCOUNT, MAX_REACH_POINTS = 3, 15
RISK_POINTS = {"high": 20, "medium": 8}


@dataclass(frozen=True)
class CaseFacts:
    """What the score reads about a case: its alerts (aggregated) and its customer."""

    alerts: int
    top_severity: str | None  # high | medium | low
    top_rule_score: int | None  # 0-100, when an alert's rule gives one
    amount_eur: Decimal  # the distinct transactions the alerts name
    network_accounts: int  # the most accounts one network alert passes through (0: none)
    customer_risk: str | None  # low | medium | high


@dataclass(frozen=True)
class CasePriority:
    score: int
    priority: str  # normal | high
    reasons: list[dict[str, Any]]  # {"factor", "points", "text"}, most points first


def _amount_points(amount: Decimal) -> int:
    return next((points for floor, points in AMOUNT_STEPS if amount >= floor), 0)


def case_priority(facts: CaseFacts) -> CasePriority:
    """The score, the priority it implies, and each factor's points in words."""
    reasons: list[dict[str, Any]] = []

    def add(factor: str, points: int, text: str) -> None:
        if points > 0:
            reasons.append({"factor": factor, "points": points, "text": text})

    if facts.top_severity:
        add(
            "severity",
            SEVERITY_POINTS.get(facts.top_severity, 0),
            f"most severe alert: {facts.top_severity}",
        )
    if facts.top_rule_score:
        add(
            "rule_score",
            int(Decimal(facts.top_rule_score) * RULE_SCORE_SHARE),
            f"highest rule score {facts.top_rule_score} of 100",
        )
    if facts.alerts > 1:
        add(
            "alerts",
            min((facts.alerts - 1) * POINTS_PER_EXTRA_ALERT, MAX_COUNT_POINTS),
            f"{facts.alerts} alerts on the case",
        )
    add("amount", _amount_points(facts.amount_eur), f"{eur(facts.amount_eur)} in the alerts")
    if facts.network_accounts:
        add(
            "network",
            min(facts.network_accounts * POINTS_PER_ACCOUNT, MAX_REACH_POINTS),
            f"a money network through {facts.network_accounts} accounts",
        )
    if facts.customer_risk:
        add(
            "customer_risk",
            RISK_POINTS.get(facts.customer_risk, 0),
            f"{facts.customer_risk}-risk customer",
        )
    reasons.sort(key=lambda r: -int(r["points"]))
    score = min(sum(int(r["points"]) for r in reasons), 100)
    return CasePriority(score, "high" if score >= HIGH_FROM else "normal", reasons)


def explain(score: int, reasons: list[dict[str, Any]]) -> str:
    """`Score 77: most severe alert: high (+25), ...`: one line for lists and audit."""
    parts = ", ".join(f"{r['text']} (+{r['points']})" for r in reasons)
    return f"Score {score}" + (f": {parts}" if parts else "")
