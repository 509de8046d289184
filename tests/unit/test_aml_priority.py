"""An AML case's priority score: each factor's points, in words, and the level it implies."""

from __future__ import annotations

from decimal import Decimal

from aml.engines.priority import HIGH_FROM, CaseFacts, case_priority, explain


def facts(**changes: object) -> CaseFacts:
    base: dict[str, object] = {
        "alerts": 1,
        "top_severity": "medium",
        "top_rule_score": None,
        "amount_eur": Decimal("1500"),
        "network_accounts": 0,
        "customer_risk": "low",
    }
    base.update(changes)
    return CaseFacts(**base)  # type: ignore[arg-type]


def test_a_network_alert_on_a_high_risk_customer_is_high_priority_with_its_reasons() -> None:
    ranked = case_priority(
        facts(
            top_severity="high",
            top_rule_score=80,
            amount_eur=Decimal("4200"),
            network_accounts=4,
            customer_risk="high",
        )
    )
    assert ranked.priority == "high"
    # 25 severity + 20 rule score + 12 reach + 3 amount + 20 risk
    assert ranked.score == 80
    texts = [r["text"] for r in ranked.reasons]
    assert "a money network through 4 accounts" in texts
    assert "high-risk customer" in texts
    assert "4 200 EUR in the alerts" in texts
    assert [r["points"] for r in ranked.reasons] == sorted(
        (r["points"] for r in ranked.reasons), reverse=True
    )
    assert explain(ranked.score, ranked.reasons).startswith(
        "Score 80: most severe alert: high (+25)"
    )


def test_one_medium_alert_on_a_low_risk_customer_stays_normal() -> None:
    ranked = case_priority(facts())
    assert ranked.priority == "normal"
    assert ranked.score == 12 + 3
    assert {r["factor"] for r in ranked.reasons} == {"severity", "amount"}  # no zero-point lines


def test_more_alerts_more_money_and_more_risk_raise_the_score() -> None:
    one = case_priority(facts()).score
    many = case_priority(facts(alerts=6)).score
    rich = case_priority(facts(alerts=6, amount_eur=Decimal("150000"))).score
    risky = case_priority(facts(alerts=6, amount_eur=Decimal("150000"), customer_risk="high"))
    assert one < many < rich < risky.score
    assert risky.score >= HIGH_FROM and risky.priority == "high"
    # count points stop at 10 however many alerts
    assert case_priority(facts(alerts=500)).score == case_priority(facts(alerts=6)).score


def test_the_score_is_capped_at_100_and_never_urgent() -> None:
    ranked = case_priority(
        facts(
            alerts=40,
            top_severity="high",
            top_rule_score=100,
            amount_eur=Decimal("1000000"),
            network_accounts=9,
            customer_risk="high",
        )
    )
    assert ranked.score == 100
    assert ranked.priority == "high"  # urgent is for deadlines and escalations only
